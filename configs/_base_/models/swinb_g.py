# Stage 1, G, backbone ablation (paper Table 1): frozen Swin-B (window 12, ImageNet-22k,
# 384 px) -> the same FPN pixel decoder and GMM classifier as dinov2_g.py, 19 classes.
# Swin's four stage maps (strides 4/8/16/32, 128/256/512/1024 channels, LayerNorm'ed) are
# already a pyramid, so the decoder skips the ViTDet levels (pyramid='none') and its output
# has stride 4.
# Weights are read from a local file (nothing is downloaded) holding mmseg's Swin keys:
# the official swin_base_patch4_window12_384_22k.pth (microsoft/Swin-Transformer release)
# converted with mmseg's tools/model_converters/swin2mmseg.py, or mmseg's already converted
# swin_base_patch4_window12_384_22k_20220317-e5c09f74.pth. FrozenBackbone.init_weights
# raises if the file's keys match no parameter (e.g. an unconverted official file).
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet mean / std, RGB (Swin pre-training)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # 512x1024 crops: multiples of the 32 px stage-4 stride (= 16 x 32 stage-4 cells), no
    # padding needed; smaller images are padded with void
    size=(512, 1024))
model = dict(
    type='UEMEncoderDecoder',
    stage=1,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='FrozenBackbone',  # requires_grad False, eval mode, no_grad
        backbone=dict(
            type='SwinTransformer',  # mmseg's; settings of its swin-base window12 384 config
            pretrain_img_size=384,
            embed_dims=128,
            patch_size=4,
            window_size=12,
            mlp_ratio=4,
            depths=[2, 2, 18, 2],
            num_heads=[4, 8, 16, 32],
            strides=(4, 2, 2, 2),
            out_indices=(0, 1, 2, 3),
            qkv_bias=True,
            patch_norm=True,
            drop_path_rate=0.0,  # frozen and in eval mode: no stochastic depth anyway
            use_abs_pos_embed=False,
            act_cfg=dict(type='GELU'),
            norm_cfg=dict(type='LN')),
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/swin_base_patch4_window12_384_22k.pth')),
    decode_head=dict(
        type='GMMHead',
        in_channels=[128, 256, 512, 1024],  # embed_dims * 2^stage
        pyramid='none',
        channels=256,
        num_classes=19,
        outlier_index=254,  # pasted COCO objects: ignored by the inlier head
        ignore_index=255,
        contrast_weight=0.01,
        # GMMClassifier: the public GMMSeg / UEM stage-1 settings
        gmm_cfg=dict(
            num_components=5,
            memory_size=8000,
            max_sample_per_component=20,
            update_interval=5,
            mean_momentum=0.999,
            sinkhorn_iters=3,
            sinkhorn_epsilon=0.05,
            score_mode='max_ln')),  # public code; 'logsumexp' = the paper's mixture
    train_cfg=dict(),
    # 1024x2048 at window 512x1024, stride 128 (4 stage-4 cells): 5 x 9 = 45 windows per
    # image, as the DINOv2 configs
    test_cfg=dict(mode='slide', crop_size=(512, 1024), stride=(128, 128), batch_windows=8))
