"""Command-line arguments and config edits shared by ``tools/train.py`` and ``tools/test.py``.

Kept here (not in the scripts) so they are importable and tested.
"""
import logging
import os
import os.path as osp
import re
from typing import Optional, Sequence

import numpy as np
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log

from ..evaluation.functional import OOD_METRICS
from ..utils.config import evaluator_list, leaf_datasets, strip_annotation_loading
from ..visualization import resolve_score_range

#: metric names of mmseg's ``IoUMetric`` (its ``iou_metrics``)
IOU_METRICS = ('mIoU', 'mDice', 'mFscore')
#: the names ``--eval`` accepts: OoDMetric's (pixel, image-wise, component, size, false
#: alarms), then IoUMetric's
EVAL_METRICS = OOD_METRICS + IOU_METRICS


def check_eval_metrics(names: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the ``--eval`` names that are no metric (the one check:
    ``tools/test.py``'s argument parser and :func:`apply_eval_metrics`)."""
    unknown = [n for n in names if n not in EVAL_METRICS]
    if unknown:
        raise ValueError(f'unknown --eval metric(s) {unknown}; valid: {list(EVAL_METRICS)}')


def check_picture_args(*, drawing: bool, score_range: Optional[Sequence[float]] = None,
                       threshold: Optional[str] = None) -> None:
    """Raise ``ValueError`` for picture settings (``--score-range``, the hook's
    ``threshold``) without pictures to draw (``drawing``: ``--show-dir``) or a colour range
    that is not low < high (the one check: ``tools/test.py``'s argument parser and
    :func:`enable_anomaly_outputs`)."""
    given = [name for name, value in (('--score-range', score_range), ('--threshold', threshold))
             if value is not None]
    if given and not drawing:
        raise ValueError(f'{" / ".join(given)} change{"s" * (len(given) == 1)} the pictures: '
                         'add --show-dir')
    if score_range is not None:
        resolve_score_range(np.zeros(1), score_range)


def apply_eval_metrics(cfg: Config, names: Sequence[str]) -> None:
    """Replace ``cfg.test_evaluator`` with evaluators computing ``names``.

    OoD names go to ``OoDMetric`` (keeping the arguments of an ``OoDMetric``
    already in the config, e.g. the SMIYC component-size thresholds), IoU names
    to mmseg's ``IoUMetric``. Raises ``ValueError`` naming the unknown metrics
    (:func:`check_eval_metrics`).
    """
    check_eval_metrics(names)
    existing = evaluator_list(cfg.get('test_evaluator'))
    ood_names = [n for n in names if n in OOD_METRICS]
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
    check_picture_args(drawing=bool(show_dir), score_range=score_range, threshold=threshold)
    if not show_dir and not out_dir:
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


def request_operating_point(cfg: Config, path: str) -> bool:
    """Ask the config's ``OoDMetric`` (if it computes FPR95) to write the score threshold at
    its TPR to ``path`` (:mod:`mmseg_uem.evaluation.operating_point`); True if one will."""
    evaluators = evaluator_list(cfg.get('test_evaluator'))
    ood = [e for e in evaluators if e.get('type') == 'OoDMetric'
           and 'FPR95' in e.get('ood_metrics', ('AP', 'FPR95', 'AUROC'))]
    for evaluator in ood:
        evaluator.operating_point_file = osp.abspath(path)
    if ood:
        cfg.test_evaluator = evaluators[0] if len(evaluators) == 1 else evaluators
    return bool(ood)


def set_false_alarm_threshold(cfg: Config, threshold: Optional[str]) -> bool:
    """Give ``threshold`` (``--threshold``: a number or an operating point file) to every
    ``OoDMetric`` of the config that computes ``FA-img``; True if there is one."""
    evaluators = evaluator_list(cfg.get('test_evaluator'))
    fa = [e for e in evaluators if e.get('type') == 'OoDMetric'
          and 'FA-img' in e.get('ood_metrics', ())]
    if threshold is not None:
        for evaluator in fa:
            evaluator.fa_threshold = threshold
        if fa:
            cfg.test_evaluator = evaluators[0] if len(evaluators) == 1 else evaluators
    return bool(fa)


def enable_runtime_log(cfg: Config, warmup: int = 5) -> None:
    """Add a :class:`~mmseg_uem.engine.hooks.RuntimeHook` (images/s, ms/image of the model)
    unless the config has one."""
    hooks = [ConfigDict(h) for h in cfg.get('custom_hooks', []) or []]
    if not any(h.get('type') == 'RuntimeHook' for h in hooks):
        hooks.append(ConfigDict(type='RuntimeHook', warmup=warmup))
    cfg.custom_hooks = hooks


def predict_without_labels(cfg: Config, unlabelled: Sequence[str], *, num_images: int,
                           predicting: bool) -> None:
    """Set up ``tools/test.py`` for a test split whose ``unlabelled`` images have no labels.

    Scoring them is impossible (the labels are hidden; SMIYC's test frames are scored by its
    server): without outputs to write (``--out`` / ``--show-dir``) this is an error naming
    them; with outputs, the annotation loaders leave the test (and TTA) pipeline, the
    evaluator is emptied and a note says that no metric is computed.
    """
    if not unlabelled:
        return
    shown = ', '.join(unlabelled[:3]) + (', ...' if len(unlabelled) > 3 else '')
    if not predicting:
        raise ValueError(
            f'{len(unlabelled)} of {num_images} test images have no labels ({shown}): they '
            'cannot be scored here. Write predictions with --out DIR (maps, or '
            '--out-format smiyc for the benchmark server) and/or --show-dir DIR.')
    for dataset_cfg in leaf_datasets(cfg.test_dataloader['dataset']):
        dataset_cfg['pipeline'] = strip_annotation_loading(dataset_cfg['pipeline'])
    if 'tta_pipeline' in cfg:
        cfg.tta_pipeline = strip_annotation_loading(cfg.tta_pipeline)
    cfg.test_evaluator = []
    print_log(f'{len(unlabelled)} of {num_images} test images have no labels ({shown}): '
              'metrics skipped, writing predictions only', logger='current',
              level=logging.WARNING)


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
    add_debug_arg(parser)


def load_cli_config(args) -> Config:
    """Read ``args.config`` and apply the common arguments (launcher, ``--cfg-options``,
    work_dir with mmseg's priority: CLI > config > ``./work_dirs/<config name>``)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = read_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


#: environment variable that shows the full traceback of a user mistake (as ``--debug``)
DEBUG_ENV = 'MMSEG_UEM_DEBUG'
#: the exceptions this project raises for bad input (a missing file, a wrong key or value,
#: a checkpoint that does not fit): a command-line tool ends with their message alone
USER_ERRORS = (FileNotFoundError, NotADirectoryError, IsADirectoryError, ValueError, KeyError)


def add_debug_arg(parser) -> None:
    """``--debug``: a failing run shows its full traceback (read by :func:`run_cli`)."""
    parser.add_argument('--debug', action='store_true',
                        help=f'on an error, show the full traceback (or set {DEBUG_ENV}=1)')


def run_cli(main, argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main()``; a user mistake (:data:`USER_ERRORS`) ends the process with
    its message as the last thing printed (``<ErrorType>: <message>``, exit status 1) and no
    traceback, unless ``--debug`` is in the arguments or ``MMSEG_UEM_DEBUG=1``."""
    import sys

    argv = sys.argv[1:] if argv is None else argv
    if '--debug' in argv or os.environ.get(DEBUG_ENV, '') not in ('', '0'):
        main()
        return
    try:
        main()
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 \
            and isinstance(err.args[0], str) else str(err)
        # mmengine's registry prefixes "class `X` in <file>.py: " per nested build
        message = re.sub(r'^(class `\w+` in [^:]+\.py: )+', '', message)
        print(f'{type(err).__name__}: {message}', file=sys.stderr)
        raise SystemExit(1) from None


def read_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` with ``cfg_options`` merged; a path that does not exist is a
    ``FileNotFoundError`` naming it and the closest existing config file."""
    import difflib

    if not osp.isfile(path):
        folder = osp.dirname(path) or '.'
        while folder and not osp.isdir(folder):
            folder = osp.dirname(folder)
        folder = folder or '.'
        candidates = []  # the configs of that folder and of its subfolders (not deeper)
        for current, dirs, files in os.walk(folder):
            candidates += [osp.normpath(osp.join(current, f)) for f in files
                           if f.endswith('.py')]
            if current != folder or len(dirs) > 100:
                dirs[:] = []
        close = difflib.get_close_matches(osp.normpath(path), candidates, n=1, cutoff=0.6)
        raise FileNotFoundError(f'config {path} does not exist'
                                + (f'; did you mean {close[0]}?' if close else ''))
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg
