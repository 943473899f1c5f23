"""Command-line arguments and config edits shared by ``tools/train.py`` and ``tools/test.py``.

Kept here (not in the scripts) so they are importable and tested.
"""
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, ConfigDict

#: metric name accepted by ``--eval`` -> the evaluator that computes it
OOD_METRICS = ('AP', 'FPR95', 'AUROC')
COMPONENT_METRICS = ('sIoU', 'PPV', 'mF1')
IOU_METRICS = ('mIoU', 'mDice', 'mFscore')
EVAL_METRICS = OOD_METRICS + COMPONENT_METRICS + IOU_METRICS


def evaluator_list(evaluator) -> list:
    """A config's ``test_evaluator`` (one dict, a list or None) as a list of ConfigDicts."""
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
    existing = evaluator_list(cfg.get('test_evaluator'))
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
                           out_dir: Optional[str] = None) -> None:
    """Add the hook that draws heat maps (``--show-dir``) and/or saves the
    anomaly maps as ``.npz`` for re-scoring (``--out``)."""
    if not show_dir and not out_dir:
        return
    hooks = [h for h in cfg.get('custom_hooks', []) or []
             if h.get('type') != 'AnomalyVisualizationHook']
    hook = dict(type='AnomalyVisualizationHook', draw=bool(show_dir))
    if show_dir:
        hook['show_dir'] = osp.abspath(show_dir)
    if out_dir:
        hook['out_dir'] = osp.abspath(out_dir)
    hooks.append(hook)
    cfg.custom_hooks = hooks


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
