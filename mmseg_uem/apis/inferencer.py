"""``UEMInferencer``: mmseg's ``MMSegInferencer`` for anomaly segmentors.

Shape key: H, W input image size.

Same call conventions as ``MMSegInferencer`` (a path, an array, a folder or a list of them;
``batch_size``, ``out_dir``, ``show``, ``return_vis``, ``return_datasamples``), with what an
anomaly segmentor adds: every prediction holds the class map and the anomaly map
(``pred_anomaly_score``) at the input image's size, and the pictures are drawn by
:mod:`mmseg_uem.visualization` (input | prediction | anomaly heat map, plus the pixels above
a ``threshold``: a number or the operating point ``tools/test.py`` measured). Our label
loader (``LoadOoDAnnotations``) is removed from the test pipeline, as mmseg removes
``LoadAnnotations``.

Example::

    >>> from mmseg_uem.apis import UEMInferencer
    >>> inferencer = UEMInferencer('configs/uem/demo/demo_gd.py',
    ...                            weights='work_dirs/demo/stage2/iter_300.pth', device='cpu')
    >>> result = inferencer('frame.jpg', out_dir='outputs')
    >>> result['predictions']['anomaly_score'].shape  # (H, W) float32
"""
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import mmcv
import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.logging import print_log
from mmseg.apis import MMSegInferencer
from mmseg.registry import INFERENCERS, MODELS

from ..evaluation.operating_point import resolve_threshold
from ..models.segmentors.checkpoint import check_segmentor_checkpoint
from ..utils.checkpoint import read_checkpoint
from ..utils.config import strip_annotation_loading
from ..visualization import draw_anomaly_panels, resolve_score_range, sample_arrays
from .outputs import (
    collect_images,
    input_name,
    output_names,
    save_picture,
    save_prediction_maps,
    skipped_note,
)


def list_images(folder: str, *, recursive: bool = False) -> List[str]:
    """Image files of ``folder`` (and its subfolders with ``recursive``), sorted; what was
    skipped (subfolders, other files, hidden ``._x.jpg`` files) is logged in one line."""
    images, skipped = collect_images(folder, recursive=recursive)
    if skipped:
        print_log(skipped_note(folder, skipped, num_images=len(images)), logger='current',
                  level=logging.WARNING)
    return images


@INFERENCERS.register_module()
class UEMInferencer(MMSegInferencer):
    """Anomaly segmentation inferencer (class map + anomaly map + pictures).

    Args:
        model, weights, classes, palette, dataset_name, device, scope: as
            ``MMSegInferencer``. A checkpoint whose keys do not match the model is a
            :class:`~mmseg_uem.utils.checkpoint.CheckpointMismatchError` naming the keys
            (mmseg's inferencer only logs them).
        score: anomaly score to compute (``model.test_cfg.score``: 'LLR', 'ID', 'OoD',
            'MSP', 'MaxLogit', 'Energy', 'RbA'); None keeps the config's.
        threshold: flag the pixels with score >= it in the pictures: a number, an
            operating point file of ``tools/test.py`` (``operating_point.json``), or None.
        score_range: (low, high) of the heat maps' colour scale, shared by all pictures;
            None = per image min / max.
        cmap: matplotlib colour map of the heat maps.

    Array inputs are BGR (OpenCV's order, as mmseg's ``LoadImageFromNDArray`` assumes).
    Outputs under ``out_dir``: ``vis/<name>.png`` pictures, ``pred/<name>_pred.png`` class
    ids (mmseg's) and ``pred/<name>.npz`` anomaly maps (:mod:`mmseg_uem.evaluation.io`);
    ``<name>`` is the input's path below the folder given (or below the deepest folder
    holding all the paths of the call) without its extension, as ``tools/test.py --out``
    names its maps (:func:`~mmseg_uem.apis.outputs.output_names`), or a running number for
    arrays; inputs that would share a name are refused before any is read.
    """

    visualize_kwargs: set = MMSegInferencer.visualize_kwargs | {
        'threshold', 'score_range', 'cmap'}

    def __init__(self,
                 model,
                 weights: Optional[str] = None,
                 classes: Optional[Union[str, List]] = None,
                 palette: Optional[Union[str, List]] = None,
                 dataset_name: Optional[str] = None,
                 device: Optional[str] = None,
                 scope: Optional[str] = 'mmseg',
                 *,
                 score: Optional[str] = None,
                 threshold: Union[float, str, None] = None,
                 score_range: Optional[Sequence[float]] = None,
                 cmap: str = 'inferno') -> None:
        import mmseg_uem  # noqa: F401  (registers our modules into mmseg's registries)

        self._weights = weights
        super().__init__(model=model, weights=weights, classes=classes, palette=palette,
                         dataset_name=dataset_name, device=device, scope=scope)
        if not hasattr(self.model, 'postprocess_result') or not hasattr(self.model, 'score'):
            raise TypeError(f'{type(self.model).__name__} emits no anomaly map: UEMInferencer '
                            'needs a UEMEncoderDecoder (a stock mmseg segmentor can be scored '
                            'as one: docs/en/user_guides/2_train_test.md, "Scoring a stock mmseg '
                            'segmentor")')
        if score is not None:
            self.model.test_cfg.score = score
            _ = self.model.score  # validated now
        self.threshold, self.threshold_name = resolve_threshold(threshold)
        self.score_range = resolve_score_range(np.zeros(1), score_range) \
            if score_range is not None else None
        self.cmap = cmap
        self._names: Dict[str, str] = {}  # input path -> output name, for the current call

    # ---------------------------------------------------------------- model
    def _init_collate(self, cfg):
        """The config's ``test_dataloader.collate_fn`` (mmengine's registry: mmseg has no
        function registry of its own, and asking it warns "may cause unexpected failure"),
        else mmseg's default ``pseudo_collate``."""
        from mmengine.dataset import pseudo_collate
        from mmengine.registry import FUNCTIONS

        name = (cfg.get('test_dataloader') or {}).get('collate_fn')
        return FUNCTIONS.get(name) if name else pseudo_collate

    def _init_model(self, cfg, weights: Optional[str], device: str = 'cpu') -> torch.nn.Module:
        """mmengine's ``_init_model`` with the checkpoint read by
        :func:`~mmseg_uem.utils.checkpoint.read_checkpoint` (errors name the file) and
        matched strictly (mmseg's inferencer only logs a mismatch). The config is needed."""
        checkpoint = read_checkpoint(weights) if weights is not None else None
        if cfg.model.get('pretrained') is not None:  # all weights come from the checkpoint
            del cfg.model.pretrained
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        self._load_weights_to_model(model, checkpoint, cfg)
        return model.to(device).eval()

    def _load_weights_to_model(self, model, checkpoint, cfg) -> None:
        if checkpoint is not None:
            config = getattr(cfg, 'filename', None) or 'the config'
            check_segmentor_checkpoint(model, checkpoint, path=self._weights,
                                       target=f'the model of {config}')
            meta = checkpoint.get('meta') if 'state_dict' in checkpoint else None
            if 'dataset_meta' not in (meta or {}):
                # the class names of the model's training set, instead of mmseg's warning
                # and its Cityscapes default (a converted or hand-made file names none)
                state = checkpoint['state_dict'] if 'state_dict' in checkpoint else checkpoint
                checkpoint = dict(state_dict=state, meta=dict(
                    meta or {}, dataset_meta=_inlier_metainfo(cfg, model)))
        super()._load_weights_to_model(model, checkpoint, cfg)

    def _init_visualizer(self, cfg):
        """The config's visualizer, or mmseg's ``SegLocalVisualizer`` if it names none (our
        pictures are drawn by :mod:`mmseg_uem.visualization`; mmseg's base class needs
        one)."""
        if 'visualizer' in cfg:
            return super()._init_visualizer(cfg)
        from mmseg.visualization import SegLocalVisualizer

        return SegLocalVisualizer(name=f'uem_inferencer_{id(self)}')

    def _init_pipeline(self, cfg) -> Compose:
        """The test pipeline without label loading, reading paths and arrays."""
        pipeline_cfg = strip_annotation_loading(cfg.test_dataloader.dataset.pipeline)
        types = [t['type'] for t in pipeline_cfg]
        if 'LoadImageFromFile' not in types:
            raise ValueError('LoadImageFromFile is not in the test pipeline '
                             '(test_dataloader.dataset.pipeline)')
        pipeline_cfg[types.index('LoadImageFromFile')]['type'] = 'InferencerLoader'
        pipeline = Compose(pipeline_cfg)

        def load(single_input):
            """The pipeline, with errors that name the input."""
            name = single_input if isinstance(single_input, str) else 'array input'
            if isinstance(single_input, str) and not osp.isfile(single_input):
                raise FileNotFoundError(f'image {single_input} does not exist')
            if isinstance(single_input, np.ndarray) and (
                    single_input.ndim not in (2, 3) or single_input.dtype != np.uint8):
                raise ValueError(f'array inputs must be (H, W[, 3]) uint8 BGR images, got '
                                 f'{single_input.dtype} {single_input.shape}')
            try:
                return pipeline(single_input)
            except Exception as err:
                raise ValueError(f'{name} is not a readable image: {err}') from err

        return load

    def _inputs_to_list(self, inputs) -> list:
        """The call's inputs as a list, named (and refused if two names clash) up front."""
        root = None
        if isinstance(inputs, str) and osp.isdir(inputs):
            inputs, root = list_images(inputs), inputs
        elif isinstance(inputs, (str, np.ndarray)):
            inputs = [inputs]
        else:
            inputs = list(inputs)
        names = output_names(inputs, root=root)
        self._names = {p: n for p, n in zip(inputs, names) if isinstance(p, str)}
        return inputs

    def _output_name(self, single_input, counter: int) -> str:
        """The name :meth:`_inputs_to_list` gave a path; a running number for arrays."""
        if isinstance(single_input, str) and single_input in self._names:
            return self._names[single_input]
        return input_name(single_input, counter)

    # -------------------------------------------------------- visualization
    def visualize(self,
                  inputs: list,
                  preds: list,
                  return_vis: bool = False,
                  show: bool = False,
                  wait_time: int = 0,
                  img_out_dir: str = '',
                  opacity: float = 0.8,
                  with_labels: Optional[bool] = True,
                  threshold: Union[float, str, None] = None,
                  score_range: Optional[Sequence[float]] = None,
                  cmap: Optional[str] = None) -> Optional[List[np.ndarray]]:
        """Draw every prediction (:func:`~mmseg_uem.visualization.draw_anomaly_panels`);
        ``threshold`` / ``score_range`` / ``cmap`` override the constructor's for this call
        (``opacity`` and ``with_labels`` are mmseg's arguments, unused here)."""
        if not show and img_out_dir == '' and not return_vis:
            return None
        thr, thr_name = (self.threshold, self.threshold_name) if threshold is None \
            else resolve_threshold(threshold)
        meta = getattr(self.model, 'dataset_meta', None) or {}
        results = []
        for single_input, pred in zip(inputs, preds):
            image = _input_rgb(single_input)
            canvas = draw_anomaly_panels(
                image, **{k: v for k, v in sample_arrays(pred).items() if k != 'gt'},
                threshold=thr, threshold_name=thr_name,
                score_range=score_range if score_range is not None else self.score_range,
                score_name=self.model.score, cmap=cmap or self.cmap,
                classes=meta.get('classes'), palette=meta.get('palette'))
            name = self._output_name(single_input, self.num_visualized_imgs)
            if img_out_dir:
                save_picture(img_out_dir, name, canvas)
            if show:
                mmcv.imshow(canvas[..., ::-1], win_name=name, wait_time=wait_time)
            if return_vis:
                results.append(canvas)
            self.num_visualized_imgs += 1
        return results if return_vis else None

    # -------------------------------------------------------- postprocess
    def postprocess(self,
                    preds: list,
                    visualization: Optional[List[np.ndarray]],
                    return_datasample: bool = False,
                    pred_out_dir: str = '') -> Union[dict, list]:
        """``predictions``: per image dict(sem_seg (H, W) int64, anomaly_score (H, W)
        float32); one image gives the dict itself, as mmseg gives one array. With
        ``pred_out_dir`` the class ids go to ``<name>_pred.png`` and the anomaly map to
        ``<name>.npz``."""
        if return_datasample:
            return preds[0] if len(preds) == 1 else preds
        predictions: List[Dict[str, np.ndarray]] = []
        for pred in preds:
            arrays = sample_arrays(pred)
            item = dict(sem_seg=arrays['pred'], anomaly_score=arrays['scores'])
            if pred_out_dir:
                img_path = pred.metainfo.get('img_path') or ''
                name = self._output_name(img_path, self.num_pred_imgs)
                save_prediction_maps(pred_out_dir, name, img_path=img_path,
                                     score_mode=self.model.score, **item)
            predictions.append(item)
            self.num_pred_imgs += 1
        out = dict(predictions=predictions[0] if len(predictions) == 1 else predictions,
                   visualization=[])
        if visualization is not None:
            out['visualization'] = visualization[0] if len(visualization) == 1 \
                else visualization
        return out

def _inlier_metainfo(cfg, model) -> dict:
    """Class names and palette of the model's K inlier classes: its training dataset's (the
    config's ``train_dataloader``), else Cityscapes' for K = 19 (the paper's models), else
    numbered names with mmseg's random palette."""
    from mmseg.registry import DATASETS
    from mmseg.utils import get_classes, get_palette

    num_classes = model.decode_head.out_channels
    dataset = ((cfg.get('train_dataloader') or {}).get('dataset') or {})
    while 'dataset' in dataset:  # RepeatDataset and the like
        dataset = dataset['dataset']
    dataset_cls = DATASETS.get(dataset.get('type')) if isinstance(dataset.get('type'), str) \
        else None
    meta = dict(getattr(dataset_cls, 'METAINFO', None) or {})
    if len(meta.get('classes', ())) == num_classes:
        return dict(classes=meta['classes'], palette=meta.get('palette'))
    if num_classes == 19:
        return dict(classes=get_classes('cityscapes'), palette=get_palette('cityscapes'))
    return dict(classes=tuple(f'class {i}' for i in range(num_classes)),
                palette=get_palette('random', num_classes))


def _input_rgb(single_input) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an input path or BGR array."""
    if isinstance(single_input, str):
        return mmcv.imread(single_input, channel_order='rgb')
    array = np.asarray(single_input)
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=2)
    return array[..., ::-1].copy()


@torch.no_grad()
def images_per_second(inferencer: UEMInferencer, images: Sequence, *, repeats: int = 1,
                      batch_size: int = 1) -> float:
    """Throughput of ``inferencer`` on ``images`` (prediction only, no pictures), for the
    benchmarks; one untimed warm-up call first."""
    import time

    inferencer(list(images[:1]), batch_size=1)
    start = time.perf_counter()
    for _ in range(repeats):
        inferencer(list(images), batch_size=batch_size)
    return repeats * len(images) / (time.perf_counter() - start)
