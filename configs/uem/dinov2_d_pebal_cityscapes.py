# Table 4, PEBAL + DINOv2: fine-tune the stage-1 D network (frozen DINOv2 + pixel decoder +
# linear head) with PEBAL's outlier supervision on Cityscapes + AnomalyMix; validates on
# RoadAnomaly with PEBAL's score. Needs the stage-1 checkpoint (model.stage1_checkpoint):
# train configs/uem/dinov2_d_stage1_cityscapes.py first, or run both with
#   bash tools/train_two_stage.sh configs/uem/dinov2_d_pebal_cityscapes.py
# AnomalyMix p = 0.1: PEBAL pastes one COCO object into 0.1 x #Cityscapes extra samples per
# epoch (code/dataset/data_loader.py, subsampling_factor=0.1), i.e. 297 of 3272 = 9% of them.
_base_ = [
    '../_base_/models/dinov2_d_pebal.py', '../_base_/datasets/cityscapes_anomalymix.py',
    '../_base_/datasets/road_anomaly.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_pebal_15k.py'
]
coco_root = 'data/coco/'
crop_size = (512, 1024)
train_pipeline = [  # cityscapes_anomalymix.py's, with p = 0.1
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='AnomalyMix', bank_root=coco_root, prob=0.1, outlier_index=254),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
stage1_config = 'configs/uem/dinov2_d_stage1_cityscapes.py'
