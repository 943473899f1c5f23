# Stage 2, G-G, backbone ablation (paper Table 1) on frozen Swin-B (window 12, IN-22k 384).
# Trains only the UEM (4000 steps) on Cityscapes with COCO objects pasted in (AnomalyMix,
# p = 0.2); validates on RoadAnomaly. Needs the stage-1 checkpoint (model.stage1_checkpoint):
# train configs/uem/swinb_g_stage1_cityscapes.py first, or run both stages with
#   bash tools/train_two_stage.sh configs/uem/swinb_gg_cityscapes.py
_base_ = [
    '../_base_/models/swinb_gg.py', '../_base_/datasets/cityscapes_anomalymix.py',
    '../_base_/datasets/road_anomaly.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_stage2_4k.py'
]
stage1_config = 'configs/uem/swinb_g_stage1_cityscapes.py'
