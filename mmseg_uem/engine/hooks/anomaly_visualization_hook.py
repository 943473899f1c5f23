"""``AnomalyVisualizationHook``: one titled picture per image of the anomaly prediction.

The twin of mmseg's ``SegVisualizationHook`` for anomaly segmentors. In val / test it draws,
every ``interval`` batches, one PNG per image with :mod:`mmseg_uem.visualization`: the input,
the predicted classes (with a legend), the ground truth if the sample has one, the anomaly
heat map with its colour bar and, with a ``threshold``, the input with the flagged pixels in
red. With ``show_dir`` the PNG goes to ``<show_dir>/<image stem>.png`` (val:
``<show_dir>/val_iter_<i>/...``); without it, to the current mmengine visualizer's backends
(what mmseg's ``tools/test.py --show-dir`` configures). With ``out_dir`` every test image's
score map and label is saved as ``<out_dir>/<image stem>.npz`` (:mod:`mmseg_uem.evaluation.io`)
for ``tools/analysis/score_maps.py``.
"""
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple, Union

import matplotlib
import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer
from mmseg.registry import HOOKS

from ...evaluation.io import save_anomaly_maps
from ...evaluation.operating_point import resolve_threshold
from ...visualization import draw_data_sample, resolve_score_range


@HOOKS.register_module()
class AnomalyVisualizationHook(Hook):
    """Draw anomaly predictions and dump score maps during val / test.

    Args:
        draw: draw the PNGs (``tools/test.py --show-dir`` switches it on, keeping the other
            settings of this hook in the config).
        interval: draw every this many batches (1 = every image).
        show_dir: directory of the PNGs; None = the current visualizer's backends.
        out_dir: if set, save every test image's score map and label as ``.npz``.
        cmap: matplotlib colour map of the heat map.
        score_range: fixed (low, high) of the heat map, the same for every image so colours
            compare across images (``--score-range``); None = per image finite min / max.
        threshold: flag the pixels above it in an extra panel: a number, or an operating
            point file written by ``tools/test.py`` (``operating_point.json``), or None.
        draw_gt: draw the ground-truth panel when the sample has labels.
        classes, palette: names and colours of the predicted classes; None = Cityscapes.
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
                 threshold: Union[float, str, None] = None,
                 draw_gt: bool = True,
                 classes: Optional[Sequence[str]] = None,
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
        self.score_range = resolve_score_range(np.zeros(1), score_range) \
            if score_range is not None else None
        self.threshold, self.threshold_name = resolve_threshold(threshold)
        self.draw_gt = draw_gt
        self.classes = tuple(classes) if classes is not None else None
        self.palette = tuple(tuple(p) for p in palette) if palette is not None else None
        self.backend_args = backend_args.copy() if backend_args else None
        if not draw and out_dir is None:
            warnings.warn('AnomalyVisualizationHook has draw=False and no out_dir: it does '
                          'nothing', stacklevel=2)

    def render(self, data_sample) -> np.ndarray:
        """The picture of one sample, (title + H, total width, 3) uint8 RGB."""
        img = mmcv.imfrombytes(fileio.get(data_sample.img_path, backend_args=self.backend_args),
                               channel_order='rgb')
        return draw_data_sample(img, data_sample, draw_gt=self.draw_gt, cmap=self.cmap,
                                score_range=self.score_range, threshold=self.threshold,
                                threshold_name=self.threshold_name, classes=self.classes,
                                palette=self.palette)

    def _after_iter(self, runner, batch_idx: int, data_batch: dict = None,
                    outputs: Optional[Sequence] = None, mode: str = 'train') -> None:
        if mode == 'train' or not outputs:
            return
        if self.out_dir is not None and mode == 'test':
            save_anomaly_maps(self.out_dir, outputs)
        if not self.draw or not self.every_n_inner_iters(batch_idx, self.interval):
            return
        for data_sample in outputs:
            canvas = self.render(data_sample)
            stem = osp.splitext(osp.basename(data_sample.img_path))[0]
            if self.show_dir is not None:
                sub = '' if mode == 'test' else f'{mode}_iter_{runner.iter}'
                mmcv.imwrite(canvas[..., ::-1], osp.join(self.show_dir, sub, f'{stem}.png'))
            else:
                Visualizer.get_current_instance().add_image(f'{mode}_{stem}', canvas,
                                                            step=runner.iter)
