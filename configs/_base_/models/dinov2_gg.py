# Stage 2, G-G: the frozen stage-1 G network + the UEM with a 2-class GMM head.
_base_ = './dinov2_g.py'
model = dict(
    stage=2,
    # the stage-1 run's work dir: the checkpoint it saved last is loaded (a file works too)
    stage1_checkpoint='work_dirs/dinov2_g_stage1_cityscapes',
    auxiliary_head=dict(
        type='UEMHead',
        in_channels=768,  # final normed patch tokens of ViT-B/14
        mlp_channels=(512, 512, 256),
        classifier='gmm',
        num_inlier_classes=19,
        outlier_index=254,
        ignore_index=255,
        alpha=0.5,  # weight of CE(O, t) for G-G (public code)
        contrast_weight=0.01,
        # GMMClassifier: the official G-G UEM (configs/segmentation/ood/g_g.yaml): EM every
        # 3 steps, the other settings as the stage-1 GMM head
        gmm_cfg=dict(num_components=5, update_interval=3)),
    test_cfg=dict(score='LLR'))
