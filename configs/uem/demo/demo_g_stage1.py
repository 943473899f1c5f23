# Demo, stage 1 (G): the whole method end to end on the miniature data that
# `make demo` generates under work_dirs/demo/data (168x336 street scenes).
# No pretrained weights ship, so this config trains a tiny DINOv2-style ViT from
# scratch together with the decoder and GMM head (`frozen=False`); stage 2 then
# freezes all of it, exactly as the paper freezes DINOv2 + the stage-1 network.
_base_ = [
    '../../_base_/models/demo_tiny_g.py', '../../_base_/datasets/cityscapes.py',
    '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_demo.py'
]
demo_root = '{{$UEM_DEMO_DATA:work_dirs/demo/data/}}'  # tools/demo.py sets it to <work_dir>/data/
crop_size = (168, 336)  # as the model's (demo_tiny_g.py): 12 x 24 patches of 14 px
model = dict(backbone=dict(frozen=False))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(336, 168), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=demo_root + 'cityscapes/', pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(data_root=demo_root + 'cityscapes/', pipeline=test_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-6, power=1.0, by_epoch=False, begin=50, end=500),
]
train_cfg = dict(max_iters=500, val_interval=500)
default_hooks = dict(checkpoint=dict(interval=500))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
