"""Pre-flight checks of ``tools/``: files a run needs are checked before the Runner starts,
with errors that name the file (mmengine would fail later, or deep inside a library)."""
import os.path as osp
import zipfile
from typing import List, Optional, Sequence, Tuple

from mmengine.config import Config

#: first bytes of a pre-1.6 (non-zip) torch.save file: pickle protocol 2, then a long int
_LEGACY_TORCH_MAGIC = b'\x80\x02\x8a\x0a'


def check_checkpoint_file(path: str, *, what: str = 'checkpoint') -> None:
    """Raise naming ``path`` if it is missing or not a complete torch (zip) checkpoint.

    Reads only the zip directory at the end of the file, so a file cut short (an
    interrupted download or copy) fails here, before the Runner starts, instead of deep in
    ``torch.load`` ("failed finding central directory", without the file name).
    """
    if '://' in path:  # a URL: mmengine's loader reports its own errors
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist')
    with open(path, 'rb') as f:
        legacy = f.read(4) == _LEGACY_TORCH_MAGIC  # torch < 1.6 format: not checkable
    if not legacy and not zipfile.is_zipfile(path):
        raise ValueError(f'{what} {path} is truncated or not a torch checkpoint (no zip '
                         'directory at its end): copy or download it again')


def check_stage1_checkpoint(cfg: Config) -> None:
    """Fail before any training when a stage-2 config's stage-1 checkpoint is missing,
    saying which checkpoint and which config produces it."""
    model = cfg.get('model', {})
    if model.get('type') != 'UEMEncoderDecoder' or model.get('stage', 1) != 2:
        return
    path = model.get('stage1_checkpoint')
    if path and osp.isfile(path):
        check_checkpoint_file(path, what='stage-1 checkpoint')
        return
    stage1 = cfg.get('stage1_config')
    if stage1 is None:  # no stage-1 config of ours: a stock mmseg model's released checkpoint
        raise FileNotFoundError(
            f'stage 2 needs the stage-1 checkpoint model.stage1_checkpoint={path!r}, which '
            'does not exist: the trained model the UEM is added to (for a stock mmseg model, '
            'the model-zoo file named in the config\'s comments: download it there), or '
            '--cfg-options model.stage1_checkpoint=PATH')
    raise FileNotFoundError(
        f'stage 2 needs the stage-1 checkpoint model.stage1_checkpoint={path!r}, which does '
        f'not exist. Train stage 1 first:\n'
        f'    python tools/train.py {stage1} --work-dir {osp.dirname(path or "") or "DIR"}\n'
        f'or run both stages with: bash tools/train_two_stage.sh <this config>\n'
        f'or point to an existing checkpoint: --cfg-options model.stage1_checkpoint=PATH')


_COLOUR_MODES = ('RGB', 'RGBA', 'CMYK', 'YCbCr', 'LAB', 'HSV')


def leaf_datasets(dataset_cfg) -> list:
    """Dataset configs inside wrappers (ConcatDataset ``datasets``, RepeatDataset ``dataset``)."""
    if 'datasets' in dataset_cfg:
        return [d for sub in dataset_cfg['datasets'] for d in leaf_datasets(sub)]
    if 'dataset' in dataset_cfg:
        return leaf_datasets(dataset_cfg['dataset'])
    return [dataset_cfg]


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
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS

    from ..datasets.ood_base import OoDBaseDataset

    pairs = []
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


