"""Config edits behind ``tools/train.py`` and ``tools/test.py``.

Kept here (not in the scripts) so they are importable and tested.
"""
import datetime
import os.path as osp
from typing import Optional, Sequence

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


def check_stage1_checkpoint(cfg: Config) -> None:
    """Fail before any training when a stage-2 config's stage-1 checkpoint is missing,
    saying which checkpoint and which config produces it."""
    model = cfg.get('model', {})
    if model.get('type') != 'UEMEncoderDecoder' or model.get('stage', 1) != 2:
        return
    path = model.get('stage1_checkpoint')
    if path and osp.isfile(path):
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
