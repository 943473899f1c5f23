# Table 4, RbA + DINOv2: fine-tune the stage-1 D network (frozen DINOv2 + pixel decoder +
# linear head) with RbA's outlier supervision on Cityscapes + AnomalyMix; validates on
# RoadAnomaly with RbA's score. Needs the stage-1 checkpoint (model.stage1_checkpoint):
# train configs/uem/dinov2_d_stage1_cityscapes.py first, or run both with
#   bash tools/train_two_stage.sh configs/uem/dinov2_d_rba_cityscapes.py
# AnomalyMix p = 0.2 (RbA INPUT.OOD_PROB, as UEM).
_base_ = [
    '../_base_/models/dinov2_d_rba.py', '../_base_/datasets/cityscapes_anomalymix.py',
    '../_base_/datasets/road_anomaly.py', '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_rba_5k.py'
]
stage1_config = 'configs/uem/dinov2_d_stage1_cityscapes.py'
