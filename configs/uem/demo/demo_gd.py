# Demo, stage 2 (G-D, the paper's G-D row): a linear-head UEM on the frozen demo stage-1
# GMM network, trained with COCO-format objects pasted into the miniature Cityscapes
# frames (AnomalyMix), and tested on the miniature RoadAnomaly set with the LLR score.
# p = 0.5 instead of the paper's 0.2: the demo trains 300 steps, not 4000.
# Why not G-G here: with the public code's score (LayerNorm over the 2 UEM classes) O_1 - O_0
# saturates at +-2 and passes almost no gradient; the G-G UEM then learns only through the
# 0.01-weighted contrastive term, too slowly for 300 steps (measured on this demo: OoD AP 5.6,
# LR = ID). configs/uem/dinov2_gg_cityscapes.py keeps the public setting for 4000 steps.
_base_ = [
    '../../_base_/models/demo_tiny_gd.py', '../../_base_/datasets/cityscapes_anomalymix.py',
    '../../_base_/datasets/road_anomaly.py', '../../_base_/default_runtime.py',
    '../../_base_/schedules/schedule_demo.py'
]
demo_root = '{{$UEM_DEMO_DATA:work_dirs/demo/data/}}'  # tools/demo.py sets it to <work_dir>/data/
crop_size = (168, 336)  # as the model's (demo_tiny_g.py)
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
tta_pipeline = [  # tools/test.py --tta: 3 scales x 2 flips
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadOoDAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True,
    dataset=dict(data_root=demo_root + 'cityscapes/', pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(data_root=demo_root + 'RoadAnomaly_jpg/', pipeline=road_anomaly_pipeline))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', eta_min=1e-6, power=1.0, by_epoch=False, begin=30, end=300),
]
train_cfg = dict(max_iters=300, val_interval=300)
default_hooks = dict(checkpoint=dict(interval=300))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0)
stage1_config = 'configs/uem/demo/demo_g_stage1.py'
