# Stage 2, D-D on a stock DeepLabV3+ R101-D8: its Cityscapes model (frozen, eval mode, its
# predictions bitwise unchanged) gives the inlier logits F; the UEM (a linear 2-class head)
# reads ResNet's last stage (2048 channels, stride 8 with the dilated D8 stages), the map the
# ASPP head reads, as the paper's UEM reads the ViT's final tokens. The stock auxiliary
# FCNHead is a training-time loss only (mmseg never runs it at test time): the UEM replaces
# it, and its tensors in the checkpoint are not read.
# stage1_checkpoint is mmseg's released Cityscapes checkpoint (model zoo, see README).
_base_ = './deeplabv3plus_r101-d8_cityscapes.py'
model = dict(
    type='UEMEncoderDecoder',
    stage=2,
    stage1_checkpoint='checkpoints/deeplabv3plus_r101-d8_512x1024_80k_cityscapes_20200606_114143-068fcfe9.pth',  # noqa
    auxiliary_head=dict(
        _delete_=True,
        type='UEMHead',
        in_channels=2048,
        in_index=-1,
        mlp_channels=(512, 512, 256),
        classifier='linear',
        num_inlier_classes=19,
        outlier_index=254,
        ignore_index=255,
        alpha=0.0,
        contrast_weight=0.0),
    test_cfg=dict(score='LLR'))
