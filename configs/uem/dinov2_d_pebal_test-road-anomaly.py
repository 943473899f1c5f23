# Table 4: test the PEBAL-fine-tuned D network on road-anomaly with PEBAL's own score:
#   python tools/test.py configs/uem/dinov2_d_pebal_test-road-anomaly.py CKPT --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/dinov2_d_pebal.py', '../_base_/datasets/road_anomaly.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
