# The stock SegFormer MiT-B5 as mmseg 1.2.2 states it in
# configs/segformer/segformer_mit-b5_8xb1-160k_cityscapes-1024x1024.py (its `model`, with
# the deltas of that file and of segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py):
# 1024x1024 crops, slide test 1024x1024 windows at stride 768.
# tests/test_stock_configs.py checks it equals the installed mmseg's config.
_base_ = './mmseg/segformer_mit-b0.py'
checkpoint = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/segformer/mit_b5_20220624-658746d9.pth'  # noqa
model = dict(
    data_preprocessor=dict(size=(1024, 1024)),  # the training crop
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint),
        embed_dims=64,
        num_layers=[3, 6, 40, 3]),
    decode_head=dict(in_channels=[64, 128, 320, 512]),
    test_cfg=dict(mode='slide', crop_size=(1024, 1024), stride=(768, 768)))
