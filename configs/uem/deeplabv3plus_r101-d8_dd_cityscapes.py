# Stage 2, D-D on mmseg's DeepLabV3+ R101-D8 Cityscapes model: trains only the UEM (4000
# steps) on Cityscapes with COCO objects pasted in (AnomalyMix, p = 0.2, 512x1024 crops as
# mmseg's config); validates on RoadAnomaly.
# Needs mmseg's released checkpoint at model.stage1_checkpoint (download it yourself):
#   https://download.openmmlab.com/mmsegmentation/v0.5/deeplabv3plus/deeplabv3plus_r101-d8_512x1024_80k_cityscapes/deeplabv3plus_r101-d8_512x1024_80k_cityscapes_20200606_114143-068fcfe9.pth
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8_dd.py',
    '../_base_/datasets/cityscapes_anomalymix.py', '../_base_/datasets/road_anomaly.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_stage2_4k.py'
]
