# The stock DeepLabV3+ R101-D8 as mmseg 1.2.2 states it in
# configs/deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py (its `model`,
# with the deltas of that file and of deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py):
# 512x1024 crops, whole-image test, an auxiliary FCNHead on stage 3 (training only).
# tests/test_stock_configs.py checks it equals the installed mmseg's config.
_base_ = './mmseg/deeplabv3plus_r50-d8.py'
model = dict(
    data_preprocessor=dict(size=(512, 1024)),  # the training crop
    pretrained='open-mmlab://resnet101_v1c',
    backbone=dict(depth=101))
