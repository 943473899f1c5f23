# Demo, UEM on the stock model (D-D): the trained stock DeepLabV3+ checkpoint is the stage-1
# checkpoint, frozen and in eval mode (its predictions bitwise unchanged); a linear UEM on
# ResNet's last map (128 channels, stride 8) replaces the training-only auxiliary FCNHead and
# learns from AnomalyMix crops; tested on the miniature RoadAnomaly set with the LLR score.
_base_ = [
    '../../_base_/models/demo_deeplabv3plus_tiny.py',
    '../../_base_/datasets/cityscapes_anomalymix.py', '../../_base_/datasets/road_anomaly.py',
    '../../_base_/default_runtime.py', '../../_base_/schedules/schedule_demo.py'
]
demo_root = '{{$UEM_DEMO_DATA:work_dirs/demo/data/}}'  # tools/demo.py sets it to <work_dir>/data/
crop_size = (84, 168)  # quarter-size crops of the 168 x 336 frames: a CPU trains in ~1 min
model = dict(
    type='UEMEncoderDecoder',
    stage=2,
    stage1_checkpoint='work_dirs/demo/stock/iter_300.pth',
    auxiliary_head=dict(
        _delete_=True, type='UEMHead', in_channels=128, mlp_channels=(64, 64, 32),
        classifier='linear', num_inlier_classes=19, outlier_index=254, ignore_index=255,
        alpha=0.0, contrast_weight=0.0),
    test_cfg=dict(score='LLR'))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='AnomalyMix', bank_root=demo_root + 'coco/', prob=0.5, outlier_index=254),
    dict(type='RandomResize', scale=(336, 168), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
road_anomaly_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOoDAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = road_anomaly_pipeline  # mmseg.apis.inference_model runs it
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=demo_root + 'cityscapes/', pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(data_root=demo_root + 'RoadAnomaly_jpg/', pipeline=road_anomaly_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', eta_min=1e-6, power=1.0, by_epoch=False, begin=20, end=200),
]
train_cfg = dict(max_iters=200, val_interval=200)
default_hooks = dict(checkpoint=dict(interval=200))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
stage1_config = 'configs/uem/demo/demo_stock_deeplabv3plus.py'
