# Stage 2, D-D on a stock SegFormer MiT-B5: its Cityscapes model (frozen, eval mode, its
# predictions bitwise unchanged) gives the inlier logits F; the UEM (a linear 2-class head)
# reads MiT's last stage (512 channels, stride 32), its most semantic map, as the paper's
# UEM reads the ViT's final tokens; in_index=2 picks the stride-16 map instead (320 ch).
# stage1_checkpoint is mmseg's released Cityscapes checkpoint (model zoo, see README).
_base_ = './segformer_mit-b5_cityscapes.py'
model = dict(
    type='UEMEncoderDecoder',
    stage=2,
    stage1_checkpoint='checkpoints/segformer_mit-b5_8x1_1024x1024_160k_cityscapes_20211206_072934-87a052ec.pth',  # noqa
    auxiliary_head=dict(
        type='UEMHead',
        in_channels=512,
        in_index=-1,
        mlp_channels=(512, 512, 256),
        classifier='linear',
        num_inlier_classes=19,
        outlier_index=254,
        ignore_index=255,
        alpha=0.0,
        contrast_weight=0.0),
    # one window per forward pass: with the test loop's batch of 1 image, mmseg's own calls,
    # so F is bitwise the stock model's (more are faster, equal up to float rounding)
    test_cfg=dict(score='LLR', batch_windows=1))
