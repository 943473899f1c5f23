"""Config edits behind ``tools/train.py`` and ``tools/test.py``.

Kept here (not in the scripts) so they are importable and tested.
"""
import datetime
import logging
import os.path as osp
import zipfile
from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

#: metric name accepted by ``--eval`` -> the evaluator that computes it
OOD_METRICS = ('AP', 'FPR95', 'AUROC')
COMPONENT_METRICS = ('sIoU', 'PPV', 'mF1')
IOU_METRICS = ('mIoU', 'mDice', 'mFscore')
EVAL_METRICS = OOD_METRICS + COMPONENT_METRICS + IOU_METRICS


def _as_list(evaluator) -> list:
    if evaluator is None:
        return []
    if isinstance(evaluator, (list, tuple)):
        return [ConfigDict(e) for e in evaluator]
    return [ConfigDict(evaluator)]


def apply_eval_metrics(cfg: Config, names: Sequence[str]) -> None:
    """Replace ``cfg.test_evaluator`` with evaluators computing ``names``.

    OoD names go to ``OoDMetric`` (keeping the arguments of an ``OoDMetric``
    already in the config, e.g. the SMIYC component-size thresholds), IoU names
    to mmseg's ``IoUMetric``. Raises ``ValueError`` naming the unknown metrics.
    """
    unknown = [n for n in names if n not in EVAL_METRICS]
    if unknown:
        raise ValueError(f'unknown --eval metric(s) {unknown}; valid names: '
                         f'{list(EVAL_METRICS)}')
    existing = _as_list(cfg.get('test_evaluator'))
    ood_names = [n for n in names if n in OOD_METRICS + COMPONENT_METRICS]
    iou_names = [n for n in names if n in IOU_METRICS]
    evaluators = []
    if ood_names:
        base = next((e for e in existing if e.get('type') == 'OoDMetric'),
                    ConfigDict(type='OoDMetric'))
        base.ood_metrics = ood_names
        evaluators.append(base)
    if iou_names:
        base = next((e for e in existing if e.get('type') == 'IoUMetric'),
                    ConfigDict(type='IoUMetric'))
        base.iou_metrics = iou_names
        evaluators.append(base)
    cfg.test_evaluator = evaluators[0] if len(evaluators) == 1 else evaluators


def enable_anomaly_outputs(cfg: Config,
                           *,
                           show_dir: Optional[str] = None,
                           out_dir: Optional[str] = None,
                           score_range: Optional[Sequence[float]] = None,
                           threshold: Optional[str] = None) -> None:
    """Switch on the hook that draws heat maps (``--show-dir``) and/or saves the anomaly
    maps as ``.npz`` for re-scoring (``--out``).

    Like mmseg's ``--show-dir``, this only switches drawing on: an
    ``AnomalyVisualizationHook`` already in ``custom_hooks`` keeps its other settings
    (colour map, interval, ...); one is added if there is none. ``score_range``
    (``--score-range``) and ``threshold`` (``--threshold``) override the hook's.
    """
    if not show_dir and not out_dir:
        if score_range is not None or threshold is not None:
            raise ValueError('--score-range / --threshold change the pictures: add --show-dir')
        return
    hooks = [ConfigDict(h) for h in cfg.get('custom_hooks', []) or []]
    ours = [h for h in hooks if h.get('type') == 'AnomalyVisualizationHook']
    if len(ours) > 1:
        raise ValueError(f'custom_hooks holds {len(ours)} AnomalyVisualizationHooks; keep one')
    if not ours:
        ours = [ConfigDict(type='AnomalyVisualizationHook')]
        hooks.append(ours[0])
    hook = ours[0]
    if show_dir:
        hook.draw = True
        hook.show_dir = osp.abspath(show_dir)
    if out_dir:
        hook.out_dir = osp.abspath(out_dir)
    if score_range is not None:
        hook.score_range = tuple(float(v) for v in score_range)
    if threshold is not None:
        hook.threshold = threshold
    cfg.custom_hooks = hooks


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
    stage1 = cfg.get('stage1_config', '<the matching *_stage1_* config>')
    raise FileNotFoundError(
        f'stage 2 needs the stage-1 checkpoint model.stage1_checkpoint={path!r}, which does '
        f'not exist. Train stage 1 first:\n'
        f'    python tools/train.py {stage1} --work-dir {osp.dirname(path or "") or "DIR"}\n'
        f'or run both stages with: bash tools/train_two_stage.sh <this config>\n'
        f'or point to an existing checkpoint: --cfg-options model.stage1_checkpoint=PATH')


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` (tools/dist_train.sh, dist_test.sh) run on CPUs only.

    mmengine 0.10.7 assumes CUDA there: ``init_dist`` calls ``torch.cuda.set_device``
    ("Found no NVIDIA driver") and the DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which
    DDP refuses for a CPU module. Without CUDA we start the process group ourselves with
    gloo (the Runner then skips ``init_dist``) and wrap the model with ``device_ids=None``.
    Does nothing for other launchers or when CUDA is available.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = dict(env_cfg.get('dist_cfg', None) or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        print_log(f'no CUDA device: using the gloo backend instead of {backend!r}',
                  logger='current')
    env_cfg['dist_cfg'] = dict(dist_cfg, backend='gloo')
    if not torch_dist.is_initialized():
        timeout = dist_cfg.pop('timeout', None)
        if timeout is not None:
            dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
        torch_dist.init_process_group(backend='gloo', **dist_cfg)
    wrapper = ConfigDict(cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False)))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


_COLOUR_MODES = ('RGB', 'RGBA', 'CMYK', 'YCbCr', 'LAB', 'HSV')


def _leaf_datasets(dataset_cfg) -> list:
    """Dataset configs inside wrappers (ConcatDataset ``datasets``, RepeatDataset ``dataset``)."""
    if 'datasets' in dataset_cfg:
        return [d for sub in dataset_cfg['datasets'] for d in _leaf_datasets(sub)]
    if 'dataset' in dataset_cfg:
        return _leaf_datasets(dataset_cfg['dataset'])
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
        for dataset_cfg in _leaf_datasets(loader['dataset']):
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


def predict_without_labels(cfg: Config, unlabelled: Sequence[str], *, num_images: int,
                           predicting: bool) -> None:
    """Set up ``tools/test.py`` for a test split whose ``unlabelled`` images have no labels.

    Scoring them is impossible (the labels are hidden; SMIYC's test frames are scored by its
    server): without outputs to write (``--out`` / ``--show-dir``) this is an error naming
    them; with outputs, the annotation loaders leave the test (and TTA) pipeline, the
    evaluator is emptied and a note says that no metric is computed.
    """
    from ..datasets.ood_base import strip_annotation_loading

    if not unlabelled:
        return
    shown = ', '.join(unlabelled[:3]) + (', ...' if len(unlabelled) > 3 else '')
    if not predicting:
        raise ValueError(
            f'{len(unlabelled)} of {num_images} test images have no labels ({shown}): they '
            'cannot be scored here. Write predictions with --out DIR (maps, or '
            '--out-format smiyc for the benchmark server) and/or --show-dir DIR.')
    for dataset_cfg in _leaf_datasets(cfg.test_dataloader['dataset']):
        dataset_cfg['pipeline'] = strip_annotation_loading(dataset_cfg['pipeline'])
    if 'tta_pipeline' in cfg:
        cfg.tta_pipeline = strip_annotation_loading(cfg.tta_pipeline)
    cfg.test_evaluator = []
    print_log(f'{len(unlabelled)} of {num_images} test images have no labels ({shown}): '
              'metrics skipped, writing predictions only', logger='current',
              level=logging.WARNING)


def finish_distributed() -> None:
    """Wait for every rank, then close the process group (mmengine leaves it open).

    Without it a rank that finishes first (rank 1, while rank 0 still writes the last
    checkpoint) tears down gloo's threads at interpreter exit and can abort with
    "terminate called without an active exception" (seen on CPU with torchrun).
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def add_common_args(parser) -> None:
    """The arguments ``tools/train.py`` and ``tools/test.py`` share with mmseg's tools."""
    from mmengine.config import DictAction

    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    # torchrun sets LOCAL_RANK; torch.distributed.launch passes --local-rank
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_cli_config(args) -> Config:
    """Read ``args.config`` and apply the common arguments (launcher, ``--cfg-options``,
    work_dir with mmseg's priority: CLI > config > ``./work_dirs/<config name>``)."""
    import os

    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config):
    """The Runner (or the config's ``runner_type``), after setting up CPU DDP if needed."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    setup_cpu_distributed(cfg)
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)


def request_operating_point(cfg: Config, path: str) -> bool:
    """Ask the config's ``OoDMetric`` (if it computes FPR95) to write the score threshold at
    its TPR to ``path`` (:mod:`mmseg_uem.evaluation.operating_point`); True if one will."""
    requested = False
    for evaluator in _as_list(cfg.get('test_evaluator')):
        if evaluator.get('type') == 'OoDMetric' and 'FPR95' in evaluator.get(
                'ood_metrics', ('AP', 'FPR95', 'AUROC')):
            requested = True
    if not requested:
        return False
    evaluators = _as_list(cfg.get('test_evaluator'))
    for evaluator in evaluators:
        if evaluator.get('type') == 'OoDMetric':
            evaluator.operating_point_file = osp.abspath(path)
    cfg.test_evaluator = evaluators[0] if len(evaluators) == 1 else evaluators
    return True
