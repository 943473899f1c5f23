# Stage 1, generative inlier head (G): frozen DINOv2 ViT-B/14 with 4 registers ->
# FPN pixel decoder (256 channels) -> GMM classifier (GMMSeg), 19 Cityscapes classes.
# Official weights are read from a local file (nothing is downloaded):
#   checkpoints/dinov2_vitb14_reg4_pretrain.pth
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],  # ImageNet mean / std, RGB (DINOv2)
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # 512x1024 crops padded with void to 518x1036 = (37, 74) patches of 14 px
    size=(518, 1036))
model = dict(
    type='UEMEncoderDecoder',
    stage=1,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='DINOv2',
        arch='vitb14_reg',
        out_indices=[1, 4, 8, 11],  # 0-based blocks of the UEM code
        frozen=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/dinov2_vitb14_reg4_pretrain.pth')),
    decode_head=dict(
        type='GMMHead',
        in_channels=[768, 768, 768, 768],
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
            score_mode='max_ln'),  # public code; 'logsumexp' = the paper's mixture
        # public code: SyncBN in the pixel decoder (its checkpoints carry BN statistics);
        # mmengine reverts it to BN in a non-distributed run
        norm_cfg=dict(type='SyncBN', requires_grad=True)),
    train_cfg=dict(),
    # 1024x2048 at window 518x1036, stride 140: 5 x 9 = 45 windows per image
    test_cfg=dict(mode='slide', crop_size=(518, 1036), stride=(140, 140), batch_windows=8))
