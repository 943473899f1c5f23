"""A stock mmseg config + ``custom_imports=['mmseg_uem']`` + one of our modules runs through
the real tools: train 2 iterations, checkpoint, resume, then ``tools/test.py``."""
import json
import sys
from pathlib import Path

import pytest
import torch

from mmseg_uem.testing.cityscapes import make_cityscapes

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests' / 'reliability'))
from rel_utils import run_tool  # noqa: E402  (the suite's one tool runner)

CONFIG = """
custom_imports = dict(imports=['mmseg_uem'], allow_failed_imports=False)
default_scope = 'mmseg'
norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (56, 112)
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=crop_size)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='DINOv2', arch=dict(embed_dims=32, num_layers=2, num_heads=2),
                  out_indices=[1], frozen=False),
    decode_head=dict(
        type='FCNHead', in_channels=32, channels=16, num_convs=1, concat_input=False,
        num_classes=19, norm_cfg=norm_cfg, align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
dataset_type = 'CityscapesDataset'
data_root = {data_root!r}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3))
param_scheduler = []
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2),
    sampler_seed=dict(type='DistSamplerSeedHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork'),
               dist_cfg=dict(backend='gloo'))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
"""


@pytest.mark.slow
def test_stock_config_trains_resumes_and_tests(tmp_path):
    make_cityscapes(str(tmp_path / 'cityscapes'), size=(64, 128), seed=0,
                    num_per_split=dict(train=4, val=2))
    cfg = tmp_path / 'stock_fcn_dinov2.py'
    cfg.write_text(CONFIG.format(data_root=str(tmp_path / 'cityscapes')))
    work = tmp_path / 'work'

    run_tool(ROOT / 'tools' / 'train.py', cfg, '--work-dir', work, cwd=tmp_path, timeout=600)
    ckpt2 = work / 'iter_2.pth'
    assert ckpt2.is_file()
    # mmengine's own checkpoint reloads with weights_only=True (torch >= 2.6).
    state = torch.load(ckpt2, map_location='cpu', weights_only=True)
    assert state['meta']['iter'] == 2

    # Resume: continues at iteration 3 from the saved optimizer and message hub.
    proc = run_tool(ROOT / 'tools' / 'train.py', cfg, '--work-dir', work, '--resume',
                    '--cfg-options', 'train_cfg.max_iters=4', cwd=tmp_path, timeout=600)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    assert (work / 'iter_4.pth').is_file()
    resumed = torch.load(work / 'iter_4.pth', map_location='cpu', weights_only=True)
    assert resumed['meta']['iter'] == 4

    proc = run_tool(ROOT / 'tools' / 'test.py', cfg, work / 'iter_4.pth', '--eval', 'mIoU',
                    '--work-dir', work / 'test', cwd=tmp_path, timeout=600)
    results = sorted((work / 'test').rglob('*.json'))
    metrics = json.loads(results[-1].read_text())
    assert set(metrics) >= {'mIoU'}
    assert 0.0 <= metrics['mIoU'] <= 100.0
