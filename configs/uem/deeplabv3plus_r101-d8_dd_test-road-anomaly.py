# Test the D-D UEM on mmseg's stock deeplabv3plus_r101-d8 Cityscapes model on road-anomaly:
# LLR; the stock model's own scores: --cfg-options model.test_cfg.score=MSP|MaxLogit|Energy
#   python tools/test.py configs/uem/deeplabv3plus_r101-d8_dd_test-road-anomaly.py \
#       CKPT --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/deeplabv3plus_r101-d8_dd.py', '../_base_/datasets/road_anomaly.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
