# Stage-1 baselines on RoadAnomaly (no UEM). Default score: ID = -max_k F_k.
# Other baselines without editing: --cfg-options model.test_cfg.score=MSP (or MaxLogit,
# Energy, RbA), e.g.
#   python tools/test.py configs/uem/dinov2_g_stage1_test-road-anomaly.py CKPT \
#       --eval AP FPR95 AUROC --cfg-options model.test_cfg.score=RbA
_base_ = [
    '../_base_/models/dinov2_g.py', '../_base_/datasets/road_anomaly.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
