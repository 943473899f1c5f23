# Stage 2, G-D: linear UEM on the stage-1 G network on frozen DINOv3 ViT-L/16. Trains only
# the UEM (4000 steps) on Cityscapes with COCO objects pasted in (AnomalyMix, p = 0.2);
# validates on RoadAnomaly. Needs the stage-1 checkpoint (model.stage1_checkpoint): train
# configs/uem/dinov3_vitl16_g_stage1_cityscapes.py first, or run both stages with
#   bash tools/train_two_stage.sh configs/uem/dinov3_vitl16_gd_cityscapes.py
_base_ = [
    '../_base_/models/dinov3_vitl16_gd.py',
    '../_base_/datasets/cityscapes_anomalymix_patch16.py',
    '../_base_/datasets/road_anomaly.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_stage2_4k.py'
]
stage1_config = 'configs/uem/dinov3_vitl16_g_stage1_cityscapes.py'
