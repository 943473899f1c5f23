"""``AnomalyVisualizationHook``: one titled picture per image of the anomaly prediction.

The twin of mmseg's ``SegVisualizationHook`` for anomaly segmentors. In val / test it draws,
every ``interval`` batches, one PNG per image with :mod:`mmseg_uem.visualization`: the input,
the predicted classes (with a legend), the ground truth if the sample has one, the anomaly
heat map with its colour bar and, with a ``threshold``, the input with the flagged pixels in
red. With ``show_dir`` the PNG goes to ``<show_dir>/<name>.png`` (val:
``<show_dir>/val_iter_<i>/...``); without it, to the current mmengine visualizer's backends
(what mmseg's ``tools/test.py --show-dir`` configures). With ``out_dir`` every test image's
score map and label is saved as ``<out_dir>/<name>.npz`` (:mod:`mmseg_uem.evaluation.io`) for
``tools/analysis/score_maps.py``, and ``<out_dir>/maps.json`` lists them at the end of the
test. ``<name>`` is the image's path below the dataset's image folder without extension
(:func:`~mmseg_uem.evaluation.io.output_name`); two images with one name are an error.
"""
import os.path as osp
import warnings
from typing import Optional, Sequence, Tuple, Union

import mmcv
import mmengine.fileio as fileio
import numpy as np
import torch
from mmengine.dist import all_gather_object, is_main_process
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer
from mmseg.registry import HOOKS

from ...evaluation.io import OutputNames, save_anomaly_maps, write_manifest
from ...evaluation.operating_point import resolve_threshold
from ...utils.samples import score_mode_of
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
        import matplotlib

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
        self._names: Optional[OutputNames] = None  # the current val / test epoch's names
        self._score_modes: set = set()  # the scores the epoch's predictions named
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

    def _before_epoch(self, runner, mode: str = 'train') -> None:
        if mode == 'train':
            return
        loader = getattr(runner, f'{mode}_dataloader', None)
        dataset = getattr(loader, 'dataset', None)
        img_root = (getattr(dataset, 'data_prefix', None) or {}).get('img_path')
        self._names = OutputNames(img_root)
        self._score_modes = set()

    def _names_for(self) -> OutputNames:
        if self._names is None:  # called without before_*_epoch (e.g. by hand)
            self._names = OutputNames()
        return self._names

    def after_test_epoch(self, runner, metrics=None) -> None:
        """Check names across ranks and write ``<out_dir>/maps.json`` (rank 0)."""
        if self.out_dir is None:
            return
        merged, modes = OutputNames(self._names_for().img_root), set()
        for images, rank_modes in all_gather_object((self._names_for().images,
                                                     self._score_modes)):
            modes |= rank_modes
            for name, img_path in images.items():
                merged.add(name, img_path)  # raises if two ranks named two images alike
        if is_main_process():
            dataset = getattr(getattr(runner, 'test_dataloader', None), 'dataset', None)
            num_images = len(dataset) if dataset is not None else len(merged.images)
            write_manifest(self.out_dir, merged.images, num_images=num_images,
                           score_mode=', '.join(sorted(m for m in modes if m)) or None)

    def _after_iter(self, runner, batch_idx: int, data_batch: dict = None,
                    outputs: Optional[Sequence] = None, mode: str = 'train') -> None:
        if mode == 'train' or not outputs:
            return
        names = self._names_for()
        if self.out_dir is not None and mode == 'test':
            save_anomaly_maps(self.out_dir, outputs, names)
            self._score_modes |= {score_mode_of(s) for s in outputs}
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
