"""``AnomalyVisualizationHook``: input | predicted segmentation | anomaly heat map, per image.

Shape key: H, W image size.

The twin of mmseg's ``SegVisualizationHook`` for anomaly segmentors. In val / test it draws,
every ``interval`` batches, one side-by-side PNG per image: the input, the predicted inlier
segmentation in the Cityscapes palette and the anomaly score as a heat map. With ``show_dir``
the PNG goes to ``<show_dir>/<image stem>.png`` (val: ``<show_dir>/val_iter_<i>/...``);
without it, to the current mmengine visualizer's backends (what mmseg's ``tools/test.py
--show-dir`` configures). With ``out_dir`` every test image's score map and label is saved as
``<out_dir>/<image stem>.npz`` (:mod:`mmseg_uem.evaluation.io`) for ``tools/analysis/
score_maps.py``.
"""
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer
from mmseg.registry import HOOKS

from ...evaluation.io import save_anomaly_maps

# Cityscapes trainId colours 0..18 (mmseg CityscapesDataset.METAINFO); other ids are black
CITYSCAPES_PALETTE = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32))
GAP = 8  # white pixels between the panels


def colorize_labels(labels: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 RGB; ids outside the palette are black."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    return lut[np.clip(labels, 0, 255).astype(np.int64)]


def heat_map(scores: np.ndarray, *, cmap: str = 'inferno',
             score_range: Optional[Tuple[float, float]] = None) -> np.ndarray:
    """(H, W) scores -> (H, W, 3) uint8 RGB; range = finite min / max unless given."""
    finite = np.isfinite(scores)
    if score_range is None:
        lo, hi = (float(scores[finite].min()), float(scores[finite].max())) if finite.any() \
            else (0.0, 1.0)
    else:
        lo, hi = score_range
    scaled = (np.nan_to_num(scores, posinf=hi, neginf=lo) - lo) / max(hi - lo, 1e-12)
    import matplotlib  # here, not at the top: registering the hook needs no matplotlib

    rgba = matplotlib.colormaps[cmap](np.clip(scaled, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate (H, W_i, 3) uint8 panels horizontally with white gaps."""
    height = panels[0].shape[0]
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts = []
    for panel in panels:
        parts += [panel, gap]
    return np.concatenate(parts[:-1], axis=1)


@HOOKS.register_module()
class AnomalyVisualizationHook(Hook):
    """Draw anomaly predictions and dump score maps during val / test.

    Args:
        draw: draw the side-by-side PNGs (``tools/test.py --show-dir`` switches it on).
        interval: draw every this many batches (1 = every image).
        show_dir: directory of the PNGs; None = the current visualizer's backends.
        out_dir: if set, save every test image's score map and label as ``.npz``.
        cmap: matplotlib colour map of the heat map.
        score_range: fixed (low, high) of the heat map; None = per image finite min / max.
        palette: colours of the predicted classes; None = Cityscapes trainIds.
        backend_args: mmengine file backend arguments for reading the input image.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 1,
                 show_dir: Optional[str] = None,
                 out_dir: Optional[str] = None,
                 *,
                 cmap: str = 'inferno',
                 score_range: Optional[Tuple[float, float]] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 backend_args: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'interval must be >= 1, got {interval}')
        import matplotlib

        if cmap not in matplotlib.colormaps:
            raise KeyError(f'unknown matplotlib colour map {cmap!r}')
        self.draw = draw
        self.interval = interval
        self.show_dir = show_dir
        self.out_dir = out_dir
        self.cmap = cmap
        self.score_range = tuple(score_range) if score_range is not None else None
        self.palette = tuple(palette) if palette is not None else CITYSCAPES_PALETTE
        self.backend_args = backend_args.copy() if backend_args else None
        if not draw and out_dir is None:
            warnings.warn('AnomalyVisualizationHook has draw=False and no out_dir: it does '
                          'nothing', stacklevel=2)

    def render(self, data_sample) -> np.ndarray:
        """(H, 3W + 2 GAP, 3) uint8 RGB: input | predicted classes | anomaly heat map."""
        scores = data_sample.pred_anomaly_score.data
        scores = scores.detach().float().cpu().numpy().reshape(scores.shape[-2:])
        height, width = scores.shape
        img = mmcv.imfrombytes(fileio.get(data_sample.img_path, backend_args=self.backend_args),
                               channel_order='rgb')
        if img.shape[:2] != (height, width):
            img = mmcv.imresize(img, (width, height))
        panels = [img]
        if 'pred_sem_seg' in data_sample:
            pred = data_sample.pred_sem_seg.data
            pred = pred.detach().cpu().numpy().reshape(pred.shape[-2:])
            if pred.shape != (height, width):
                pred = mmcv.imresize(pred.astype(np.uint8), (width, height),
                                     interpolation='nearest')
            panels.append(colorize_labels(pred, self.palette))
        panels.append(heat_map(scores, cmap=self.cmap, score_range=self.score_range))
        return side_by_side(panels)

    def _after_iter(self, runner, batch_idx: int, data_batch: dict = None,
                    outputs: Optional[Sequence] = None, mode: str = 'train') -> None:
        if mode == 'train' or not outputs:
            return
        if self.out_dir is not None and mode == 'test':
            save_anomaly_maps(self.out_dir, outputs)
        if not self.draw or not self.every_n_inner_iters(batch_idx, self.interval):
            return
        for data_sample in outputs:
            with torch.no_grad():
                canvas = self.render(data_sample)
            stem = osp.splitext(osp.basename(data_sample.img_path))[0]
            if self.show_dir is not None:
                sub = '' if mode == 'test' else f'{mode}_iter_{runner.iter}'
                mmcv.imwrite(canvas[..., ::-1], osp.join(self.show_dir, sub, f'{stem}.png'))
            else:
                Visualizer.get_current_instance().add_image(f'{mode}_{stem}', canvas,
                                                            step=runner.iter)
