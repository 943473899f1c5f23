# Stage 2, D-D: the frozen stage-1 D network + the UEM with a linear 2-class head.
_base_ = './dinov2_d.py'
model = dict(
    stage=2,
    # the stage-1 run's work dir: the checkpoint it saved last is loaded (a file works too)
    stage1_checkpoint='work_dirs/dinov2_d_stage1_cityscapes',
    auxiliary_head=dict(
        type='UEMHead',
        in_channels=768,
        mlp_channels=(512, 512, 256),
        classifier='linear',
        num_inlier_classes=19,
        outlier_index=254,
        ignore_index=255,
        alpha=0.0,
        contrast_weight=0.0),
    test_cfg=dict(score='LLR'))
