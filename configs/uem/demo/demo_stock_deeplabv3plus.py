# Demo, stock model: mmseg's own DeepLabV3+ (tiny, ../../_base_/models/demo_deeplabv3plus_tiny.py)
# trained as any mmseg model is (EncoderDecoder, its CE losses incl. the auxiliary FCNHead's)
# on the miniature Cityscapes frames. It plays the released checkpoint of a model-zoo model.
_base_ = [
    '../../_base_/models/demo_deeplabv3plus_tiny.py', '../../_base_/datasets/cityscapes.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/schedule_demo.py'
]
demo_root = '{{$UEM_DEMO_DATA:work_dirs/demo/data/}}'  # tools/demo.py sets it to <work_dir>/data/
crop_size = (84, 168)  # quarter-size crops of the 168 x 336 frames: a CPU trains in ~1 min
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
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=1e-6, power=1.0, by_epoch=False, begin=30, end=300),
]
train_cfg = dict(max_iters=300, val_interval=300)
default_hooks = dict(checkpoint=dict(interval=300))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
