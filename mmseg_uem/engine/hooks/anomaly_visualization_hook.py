"""``AnomalyVisualizationHook``: input | predicted segmentation | anomaly heat map, per image.

Shape key: H, W image size.

The twin of mmseg's ``SegVisualizationHook`` for anomaly segmentors. In val / test it draws,
every ``interval`` batches, one side-by-side PNG per image: the input, the predicted inlier
segmentation in the Cityscapes palette and the anomaly score as a heat map. With ``show_dir``
the PNG goes to ``<show_dir>/<name>.png`` (val: ``<show_dir>/val_iter_<i>/...``);
without it, to the current mmengine visualizer's backends (what mmseg's ``tools/test.py
--show-dir`` configures). With ``out_dir`` every test image's score map and label is saved as
``<out_dir>/<name>.npz`` (:mod:`mmseg_uem.evaluation.io`) for ``tools/analysis/
score_maps.py``, and ``<out_dir>/maps.json`` lists them at the end of the test. ``<name>`` is
the image's path below the dataset's image folder without extension
(:func:`~mmseg_uem.evaluation.io.output_name`); two images with one name are an error.
"""
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple

import matplotlib
import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer
from mmseg.registry import HOOKS

from ...evaluation.io import OutputNames, save_anomaly_maps, write_manifest

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
        self._names: Optional[OutputNames] = None  # the current val / test epoch's names
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

    def _before_epoch(self, runner, mode: str = 'train') -> None:
        if mode == 'train':
            return
        loader = getattr(runner, f'{mode}_dataloader', None)
        dataset = getattr(loader, 'dataset', None)
        img_root = (getattr(dataset, 'data_prefix', None) or {}).get('img_path')
        self._names = OutputNames(img_root)

    def _names_for(self) -> OutputNames:
        if self._names is None:  # called without before_*_epoch (e.g. by hand)
            self._names = OutputNames()
        return self._names

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Check names across ranks and write ``<out_dir>/maps.json`` (rank 0)."""
        if self.out_dir is None:
            return
        merged = OutputNames(self._names_for().img_root)
        for images in all_gather_object(self._names_for().images):
            for name, img_path in images.items():
                merged.add(name, img_path)  # raises if two ranks named two images alike
        if is_main_process():
            dataset = getattr(getattr(runner, 'test_dataloader', None), 'dataset', None)
            num_images = len(dataset) if dataset is not None else len(merged.images)
            write_manifest(self.out_dir, merged.images, num_images=num_images)

    def _after_iter(self, runner, batch_idx: int, data_batch: dict = None,
                    outputs: Optional[Sequence] = None, mode: str = 'train') -> None:
        if mode == 'train' or not outputs:
            return
        names = self._names_for()
        if self.out_dir is not None and mode == 'test':
            save_anomaly_maps(self.out_dir, outputs, names)
        if not self.draw or not self.every_n_inner_iters(batch_idx, self.interval):
            return
        for data_sample in outputs:
            with torch.no_grad():
                canvas = self.render(data_sample)
            name = names(data_sample.img_path)
            if self.show_dir is not None:
                sub = '' if mode == 'test' else f'{mode}_iter_{runner.iter}'
                mmcv.imwrite(canvas[..., ::-1], osp.join(self.show_dir, sub, f'{name}.png'))
            else:  # the backends write flat file names
                Visualizer.get_current_instance().add_image(
                    f'{mode}_{name.replace("/", "__")}', canvas, step=runner.iter)
