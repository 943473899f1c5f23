"""Shared pieces of the reliability suite: tiny two-stage configs on generated data, and
test-only hooks (imported by the training subprocesses through ``custom_imports``).

Everything is CPU, ``num_workers=0`` and tiny (a 4-block, 32-dim DINOv2 on 64x128 frames),
so one training iteration takes a few tens of milliseconds.
"""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch
from mmengine.dist import all_gather, get_rank, get_world_size
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FRAME = (64, 128)  # generated Cityscapes frames (H, W)
CROP = (56, 112)  # 4 x 8 patches of 14 px

_COMMON = """
custom_imports = dict(imports={imports!r}, allow_failed_imports=False)
default_scope = 'mmseg'
crop_size = {crop!r}
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=crop_size)
model = {model!r}
model['data_preprocessor'] = data_preprocessor
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    {paste}
    dict(type='RandomResize', scale=(128, 64), ratio_range=(0.9, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size={batch_size}, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type='CityscapesDataset', data_root={cityscapes!r},
                 data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
                 pipeline=train_pipeline))
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadOoDAnnotations'),
                 dict(type='PackSegInputs')]
test_dataloader = dict(
    batch_size=1, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RoadAnomalyDataset', data_root={road_anomaly!r},
                 pipeline=test_pipeline))
test_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'])
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3,
                                                          weight_decay=0.0))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=4)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters={max_iters}, val_interval=1000)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval={ckpt_interval},
                    max_keep_ckpts=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
custom_hooks = {custom_hooks!r}
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork'),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
"""

#: 10 slots, 4 writes per step: the ring pointers wrap within 3 steps; EM every 2 steps
GMM = dict(num_components=2, memory_size=10, max_sample_per_component=4, update_interval=2)


def tiny_model(*, stage: int, head: str, uem: str, stage1: Optional[str], frozen: bool,
               backbone_init: Optional[dict], norm: str = 'GN') -> dict:
    """The paper's model config of the variant (:func:`mmseg_uem.testing.models.segmentor_cfg`)
    at a 4-block, 32-dim ViT with 32 decoder channels and :data:`GMM`, UEM CE weight 0.5.

    The pixel decoder keeps GroupNorm (the head's default) unless ``norm='BN'`` (the
    configs' BatchNorm, whose running statistics change in the forward pass)."""
    from mmseg_uem.testing.models import segmentor_cfg

    variant = 'G' if head == 'GMMHead' else 'D'
    if stage == 2:
        variant += '-' + ('G' if uem == 'gmm' else 'D')
    cfg = segmentor_cfg(
        variant, arch=dict(embed_dims=32, num_layers=4, num_heads=2), out_indices=(0, 1, 2, 3),
        channels=32, final_mlp_channels=None, mlp_channels=(32, 32, 32), gmm_cfg=GMM,
        norm_cfg=(dict(type='GN', num_groups=32, requires_grad=True) if norm == 'GN'
                  else dict(type='BN', requires_grad=True)),
        alpha=0.5 if stage == 2 else None, backbone=dict(frozen=frozen, init_cfg=backbone_init),
        train_cfg=dict())
    if stage == 2:
        cfg['stage1_checkpoint'] = stage1
    return cfg


def make_data(root: Path, *, num_train: int = 4, coco: bool = False,
              road_anomaly: int = 0) -> Dict[str, str]:
    """Generated Cityscapes (+ COCO outlier bank, + RoadAnomaly) under ``root``."""
    from mmseg_uem.testing.cityscapes import make_cityscapes

    paths = dict(cityscapes=str(root / 'cityscapes'))
    make_cityscapes(paths['cityscapes'], size=FRAME, seed=0,
                    num_per_split=dict(train=num_train, val=1))
    if coco:
        from mmseg_uem.datasets.coco_outliers import build_outlier_bank
        from mmseg_uem.testing.coco import make_coco

        paths['coco'] = str(root / 'coco')
        make_coco(paths['coco'], num_images=10, min_side=48, frame_size=FRAME, seed=0)
        build_outlier_bank(paths['coco'], min_size=48, progress=False)
    if road_anomaly:
        from mmseg_uem.testing.ood_sets import make_road_anomaly

        paths['road_anomaly'] = str(root / 'RoadAnomaly_jpg')
        make_road_anomaly(paths['road_anomaly'], num_frames=road_anomaly, size=(72, 128),
                          seed=0)
    return paths


def write_config(path: Path, data: Dict[str, str], *, stage: int = 1, max_iters: int = 4,
                 ckpt_interval: int = 2, batch_size: int = 2, stage1: Optional[str] = None,
                 custom_hooks: Optional[List[dict]] = None, test_hooks: bool = False,
                 backbone_init: Optional[dict] = None, head: str = 'GMMHead',
                 uem: str = 'gmm', frozen: bool = True, norm: str = 'GN') -> Path:
    """Write a tiny stage-1 config (inlier ``head`` 'GMMHead' or 'LinearDecoderHead') or a
    stage-2 one (UEM classifier ``uem`` 'gmm' or 'linear'); ``frozen=False`` trains the
    backbone too (as the demo's stage 1); return its path."""
    imports = ['mmseg_uem'] + (['rel_utils'] if test_hooks else [])
    paste = ''
    if stage == 2:
        paste = (f"dict(type='AnomalyMix', bank_root={data['coco'] + '/'!r}, prob=0.5, "
                 'outlier_index=254),')
    model = tiny_model(stage=stage, head=head, uem=uem, stage1=stage1, frozen=frozen,
                       backbone_init=backbone_init, norm=norm)
    text = _COMMON.format(
        imports=imports, crop=CROP, paste=paste, batch_size=batch_size,
        cityscapes=data['cityscapes'], road_anomaly=data.get('road_anomaly', ''),
        max_iters=max_iters, ckpt_interval=ckpt_interval, custom_hooks=custom_hooks or [],
        model=model)
    path.write_text(text)
    return path


def make_stage1_checkpoint(config: Path, out: Path) -> Path:
    """An untrained stage-1 model of ``config`` saved like mmengine does (for stage 2)."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmseg_uem  # noqa: F401  (registers the modules)

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(str(config)).model)
    model.init_weights()
    torch.save(dict(meta=dict(iter=0), state_dict=model.state_dict()), out)
    return out


def tool_env() -> dict:
    """Environment of a tools/*.py subprocess: this folder importable (test hooks), 1 thread."""
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(HERE), str(ROOT), env.get('PYTHONPATH')) if p)
    env.setdefault('OMP_NUM_THREADS', '1')
    env['CUDA_VISIBLE_DEVICES'] = ''  # the CPU (gloo) semantics are what is tested
    env.pop('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', None)  # our tools must not need it
    return env


def run_tool(*args, cwd: Path, check: bool = True, timeout: int = 300,
             launcher: Optional[List[str]] = None) -> subprocess.CompletedProcess:
    """Run ``python tools/<args>`` (or ``launcher + args``); assert success if ``check``."""
    cmd = (launcher or [sys.executable]) + [str(a) for a in args]
    proc = subprocess.run(cmd, cwd=cwd, env=tool_env(), capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    return proc


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_shell(script: str, *args, cwd: Path, timeout: int = 300,
              check: bool = True) -> subprocess.CompletedProcess:
    """``bash tools/<script> ...`` as a user runs it with the project's python in ``PYTHON``
    and that python's folder *not* on PATH (no activated environment)."""
    env = tool_env()
    venv_bin = osp.dirname(sys.executable)
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep)
                                  if osp.abspath(p) != venv_bin)
    env['PYTHON'] = sys.executable
    env['PORT'] = str(free_port())
    proc = subprocess.run(['bash', str(ROOT / 'tools' / script), *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-6000:]
    return proc


def run_dist(script: str, *args, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """``bash tools/<script> ...`` (dist_train.sh / dist_test.sh), see :func:`run_shell`."""
    return run_shell(script, *args, cwd=cwd, timeout=timeout)


def last_error_line(proc: subprocess.CompletedProcess) -> str:
    """The exception line a user sees at the end of a failed run's traceback."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    return lines[-1] if lines else ''


def gmm_state(state_dict: dict) -> Dict[str, torch.Tensor]:
    """The EM buffers (means, stds, memory, pointers, step counters) of a state dict."""
    names = ('.means', '.stds', '.memory', '.memory_ptr', '.num_steps')
    return {k: v for k, v in state_dict.items() if k.endswith(names)}


# ----------------------------------------------------------------- test-only hooks


@HOOKS.register_module(force=True)
class StallAfterIterHook(Hook):
    """After training iteration ``iteration`` (1-based) write ``marker`` and wait to be killed.

    The parent test sees the marker and SIGKILLs the process: the model in memory is then
    ahead of the last checkpoint, as in a real crash.
    """

    def __init__(self, iteration: int, marker: str) -> None:
        self.iteration, self.marker = iteration, marker

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if runner.iter + 1 == self.iteration:
            Path(self.marker).write_text(str(os.getpid()))
            time.sleep(600)


@HOOKS.register_module(force=True)
class RankBufferCheckHook(Hook):
    """After every training iteration, all-gather the GMM buffers of every rank and save the
    largest difference from rank 0 (rank 0 writes ``out`` as json: iter -> max |diff|)."""

    def __init__(self, out: str) -> None:
        self.out, self.diffs = out, {}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        worst, names = 0.0, []
        for name, buf in gmm_state(dict(model.named_buffers())).items():
            names.append(name)
            for other in all_gather(buf.detach().clone()):
                worst = max(worst, float((other.double() - buf.double()).abs().max()))
        if get_rank() == 0:
            self.diffs[runner.iter + 1] = dict(max_abs_diff=worst, buffers=sorted(names),
                                               world_size=get_world_size())
            Path(self.out).write_text(json.dumps(self.diffs))


@HOOKS.register_module(force=True)
class PoisonBackboneHook(Hook):
    """From training iteration ``iteration`` (1-based) on, the backbone returns ``value``
    ('nan' or 'inf') in one feature of every output map."""

    def __init__(self, iteration: int, value: str = 'nan') -> None:
        self.iteration, self.value = iteration, float(value)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.iteration:
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        value = self.value

        def poison(module, args, outputs):
            outputs = tuple(o.clone() for o in outputs)
            for o in outputs:
                o[0, 0, 0, 0] = value
            return outputs

        model.backbone.register_forward_hook(poison)


def kill_when_marked(proc: subprocess.Popen, marker: Path, timeout: float = 240) -> None:
    """Wait for ``marker`` then SIGKILL ``proc`` (fails if it exits or times out first)."""
    start = time.time()
    while not marker.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f'training ended before the kill point:\n{out[-3000:]}'
                                 f'{err[-5000:]}')
        if time.time() - start > timeout:
            proc.kill()
            raise AssertionError('training never reached the kill point')
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def checkpoint_iters(work_dir: Path) -> List[int]:
    return sorted(int(p.stem.split('_')[1]) for p in work_dir.glob('iter_*.pth'))


def read_metrics(work_dir: Path) -> dict:
    results = sorted(Path(work_dir).rglob('*.json'))
    # mmengine's <timestamp>.json, not the visualizer's or tools/test.py's operating point
    results = [p for p in results if not p.name.startswith(('vis', 'operating_point'))]
    assert results, f'no metrics json under {work_dir}'
    return json.loads(results[-1].read_text())
