# The demo's stage-2 G-D network: the stage-1 network of demo_tiny_g.py, frozen, + the G-D
# UEM of dinov2_gd.py (linear 2-class head, no CE(O, t) term) at the demo's width.
_base_ = './demo_tiny_g.py'
model = dict(
    stage=2,
    stage1_checkpoint='work_dirs/demo/stage1',  # the stage-1 demo run's latest checkpoint
    auxiliary_head=dict(
        type='UEMHead',
        in_channels={{_base_.embed_dims}},
        mlp_channels=(128, 128, 64),
        classifier='linear',
        num_inlier_classes=19,
        outlier_index=254,
        ignore_index=255,
        alpha=0.0,
        contrast_weight=0.0),
    test_cfg=dict(score='LLR'))
