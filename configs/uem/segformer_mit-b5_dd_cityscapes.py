# Stage 2, D-D on mmseg's SegFormer MiT-B5 Cityscapes model: trains only the UEM (4000
# steps) on Cityscapes with COCO objects pasted in (AnomalyMix, p = 0.2); validates on
# RoadAnomaly. Crops as mmseg's SegFormer Cityscapes config: 1024x1024.
# Needs mmseg's released checkpoint at model.stage1_checkpoint (download it yourself):
#   https://download.openmmlab.com/mmsegmentation/v0.5/segformer/segformer_mit-b5_8x1_1024x1024_160k_cityscapes/segformer_mit-b5_8x1_1024x1024_160k_cityscapes_20211206_072934-87a052ec.pth
_base_ = [
    '../_base_/models/segformer_mit-b5_dd.py', '../_base_/datasets/cityscapes_anomalymix.py',
    '../_base_/datasets/road_anomaly.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_stage2_4k.py'
]
crop_size = (1024, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='AnomalyMix', bank_root='data/coco/', prob=0.2, outlier_index=254),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
