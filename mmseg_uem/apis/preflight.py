"""Pre-flight checks of ``tools/``: files a run needs are checked before the Runner starts,
with errors that name the file (mmengine would fail later, or deep inside a library)."""
from typing import Iterator, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config

from ..models.segmentors.checkpoint import check_segmentor_checkpoint
from ..utils.checkpoint import read_checkpoint
from ..utils.config import evaluator_list, leaf_datasets


def check_checkpoint_fits(model: torch.nn.Module, checkpoint: str, *, config: str,
                          strict: bool = True) -> None:
    """Refuse to test ``model`` (built from ``config``) with a ``checkpoint`` that does not fit
    (:func:`~mmseg_uem.models.segmentors.checkpoint.check_segmentor_checkpoint`), before any
    image is scored.

    Args:
        model: the built model (``runner.model``).
        checkpoint: path of the checkpoint (``tools/test.py CONFIG CKPT``).
        config: the config path, named in the message.
        strict: False logs the same message as a warning and lets the test run
            (``tools/test.py --allow-checkpoint-mismatch``).
    """
    check_segmentor_checkpoint(
        model, read_checkpoint(checkpoint), path=checkpoint, target=f'the model of {config}',
        strict=strict, advice='--allow-checkpoint-mismatch tests anyway: the listed tensors '
        'then keep their initial values')


_COLOUR_MODES = ('RGB', 'RGBA', 'CMYK', 'YCbCr', 'LAB', 'HSV')


def _image_header(path: str, what: str) -> tuple:
    """((H, W), PIL mode) from the file header (no decoding); a clear error if unreadable."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            (width, height), mode = image.size, image.mode
    except FileNotFoundError as err:
        raise FileNotFoundError(f'{what} {path} is missing') from err
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f'{what} {path} is not a readable image ({err})') from err
    return (height, width), mode


def _datasets(cfg: Config, loaders: Sequence[str]) -> Iterator[Tuple[str, dict, object]]:
    """(loader key, dataset config, lazily built dataset) of every leaf dataset of
    ``loaders``; datasets on non-local file backends (``backend_args``) are left out."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    for key in loaders:
        loader = cfg.get(key, None)
        if not loader or 'dataset' not in loader:
            continue
        for dataset_cfg in leaf_datasets(loader['dataset']):
            if dataset_cfg.get('backend_args', None):
                continue
            dataset_cfg = dict(dataset_cfg, lazy_init=True)
            with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmseg')):
                dataset = DATASETS.build(dataset_cfg)
            yield key, dataset_cfg, dataset


def check_dataset_files(cfg: Config, loaders: Sequence[str]) -> List[Tuple[str, Optional[str]]]:
    """Check the datasets of ``loaders`` (e.g. 'train_dataloader') before the Runner starts.

    Returns (image, label) of every listed image; label None where the split has none (a
    hidden test split).

    Every dataset must list at least one image; every listed image and label must exist,
    be an image file and, pair by pair, have the same size (read from the file headers, no
    decoding: ~1 ms per pair); labels of mmseg datasets must be single-channel (the OoD
    datasets' loader accepts grey RGB and checks it). Errors name the folder or the files.
    mmseg's own loading would instead fail with "need at least one array to concatenate"
    (empty folder), at the first batch holding a missing label, or not at all for a label
    of another size that the augmentation rescales to its image's size. Label *values* are
    checked in training by the decode heads. Non-local file backends (``backend_args``) are
    skipped.
    """
    from ..datasets.ood_base import OoDBaseDataset

    pairs = []
    for key, dataset_cfg, dataset in _datasets(cfg, loaders):
        data_list = dataset.load_data_list()
        if not data_list:
            prefix = getattr(dataset, 'data_prefix', {}).get('img_path', '?')
            suffix = getattr(dataset, 'img_suffix', '')
            raise FileNotFoundError(
                f'{key}: {type(dataset).__name__} found no images (*{suffix}) under '
                f'{prefix} (data_root={dataset_cfg.get("data_root")!r})')
        for info in data_list:
            img_path, seg_path = info.get('img_path'), info.get('seg_map_path')
            pairs.append((img_path, seg_path))
            img_size, _ = _image_header(img_path, 'image')
            if seg_path is None:
                continue
            seg_size, mode = _image_header(seg_path, f'label of image {img_path}:')
            if mode in _COLOUR_MODES and not isinstance(dataset, OoDBaseDataset):
                raise ValueError(f'{key}: label {seg_path} is a {mode} colour image, not a '
                                 'single-channel label map (use the *_labelTrainIds.png '
                                 'files, not *_color.png)')
            if seg_size != img_size:
                raise ValueError(
                    f'{key}: label {seg_path} is {seg_size[0]}x{seg_size[1]} but its image '
                    f'{img_path} is {img_size[0]}x{img_size[1]}')
    return pairs


def check_iou_metric_data(cfg: Config) -> None:
    """Refuse an ``IoUMetric`` (``--eval mIoU``) that would compare class ids with labels of
    another kind, before the Runner starts.

    - On an OoD test set the labels are {0 inlier, 1 anomaly, 255 void}, not the model's K
      classes: mmseg's IoUMetric would score the predicted class ids against them (mIoU
      9.51 for a good Cityscapes model).
    - On an mmseg dataset the first label must hold only class ids 0..K-1 (with
      ``reduce_zero_label`` 0..K, 0 being void) and the ignore index: Cityscapes
      ``labelIds`` (0..33) instead of ``labelTrainIds`` would give mIoU ~0, as IoUMetric
      silently drops values above K-1. One label suffices for this mistake: a labelIds
      frame holds road (7), building (11) or sky (23). Training checks every label
      (the decode heads).
    """
    import numpy as np
    from PIL import Image

    from ..datasets.ood_base import OoDBaseDataset
    if not any(e.get('type') == 'IoUMetric' for e in evaluator_list(cfg.get('test_evaluator'))):
        return
    for key, _, dataset in _datasets(cfg, ['test_dataloader']):
        name = type(dataset).__name__
        if isinstance(dataset, OoDBaseDataset):
            raise ValueError(
                f'{key}: IoUMetric (mIoU) on {name}, an OoD test set whose labels are '
                '{0 inlier, 1 anomaly, 255 void}, not the model\'s classes: it would compare '
                'predicted class ids with them. Score OoD sets with --eval AP FPR95 AUROC, '
                'and mIoU on a Cityscapes-style test config (e.g. configs/uem/demo/'
                'demo_gd_test-cityscapes.py)')
        if getattr(dataset, 'label_map', None):
            continue  # labels are remapped on loading: raw values are not class ids
        info = next(iter(dataset.load_data_list()), {})
        if not info.get('seg_map_path'):
            continue
        num_classes = len(dataset.metainfo.get('classes', ()))
        reduce_zero = bool(getattr(dataset, 'reduce_zero_label', False))
        ignore = getattr(dataset, 'ignore_index', 255)
        with Image.open(info['seg_map_path']) as label:
            values = np.unique(np.asarray(label))
        allowed = set(range(num_classes + int(reduce_zero))) | {ignore}
        bad = [int(v) for v in values if int(v) not in allowed]
        if bad:
            raise ValueError(
                f'{key}: label {info["seg_map_path"]} holds values {bad[:10]} outside the '
                f'{num_classes} classes of {name} (0..{num_classes - 1 + int(reduce_zero)}) and '
                f'the ignore index {ignore}: IoUMetric would drop them and report a '
                'meaningless mIoU. Cityscapes labelIds instead of labelTrainIds? Convert them '
                '(tools/dataset_converters/cityscapes.py) or point seg_map_suffix at the '
                'train ids')


def check_amp_device(cfg: Config) -> None:
    """Refuse ``AmpOptimWrapper`` (``tools/train.py --amp``) without a CUDA, NPU, MLU or MUSA
    device, saying what to do, before the Runner stops on mmengine's bare assertion."""
    from mmengine.device import (
        is_cuda_available,
        is_mlu_available,
        is_musa_available,
        is_npu_available,
    )

    if (cfg.get('optim_wrapper') or {}).get('type') != 'AmpOptimWrapper':
        return
    if any(f() for f in (is_cuda_available, is_npu_available, is_mlu_available,
                         is_musa_available)):
        return
    raise RuntimeError(
        'mixed precision (--amp / optim_wrapper.type=AmpOptimWrapper) needs a CUDA, NPU, MLU '
        'or MUSA device, and none is available: train in float32 on the CPU (drop --amp, or '
        '--cfg-options optim_wrapper.type=OptimWrapper); the GMM numerics are float32 either way')
