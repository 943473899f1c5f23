# Stage 1, G, backbone ablation (paper Table 1): frozen CLIP ViT-B/16 image tower (OpenAI)
# -> the same ViTDet pyramid + FPN pixel decoder and GMM classifier as dinov2_g.py.
# mmpretrain's VisionTransformer with the settings of its CLIP configs (pre-norm "ln_pre",
# no patch-embed bias, QuickGELU). Its intermediate maps are the raw residual stream: only
# the last (block 11) passes the final LayerNorm ("ln_post"), unlike DINOv2's
# get_intermediate_layers(norm=True); the decoder's GroupNorm(1, D) normalises each level.
# Weights are read from a local file (nothing is downloaded): OpenAI's ViT-B-16.pt is a
# TorchScript archive, so save torch.jit.load('ViT-B-16.pt').state_dict() with torch.save,
# then convert it with mmpretrain's tools/model_converters/openai-clip_to_mmpretrain-clip.py:
# the image tower's keys then start with 'visual.' (hence prefix='visual.').
# mmpretrain registers into its own scope: the type is 'mmpretrain.VisionTransformer', and
# mmengine imports mmpretrain.models when that name is first built.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # CLIP's image normalisation (OpenAI clip/clip.py), RGB, scaled to 0..255
    mean=[0.48145466 * 255, 0.4578275 * 255, 0.40821073 * 255],
    std=[0.26862954 * 255, 0.26130258 * 255, 0.27577711 * 255],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # 512x1024 crops = (32, 64) patches of 16 px: no padding needed; smaller images are
    # padded with void
    size=(512, 1024))
model = dict(
    type='UEMEncoderDecoder',
    stage=1,
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='FrozenBackbone',  # requires_grad False, eval mode, no_grad
        backbone=dict(
            type='mmpretrain.VisionTransformer',
            arch='b',  # 12 blocks, 768 dims, 12 heads, MLP 3072
            img_size=224,  # CLIP's 14 x 14 position grid, bicubic-resized to each input
            patch_size=16,
            out_indices=[1, 4, 8, 11],  # 0-based blocks, as the DINOv2 configs
            out_type='featmap',  # (B, 768, H/16, W/16) patch-token maps, class token dropped
            pre_norm=True,
            final_norm=True,  # ln_post, applied to block 11's output only
            norm_cfg=dict(type='LN', eps=1e-5),  # nn.LayerNorm default, as OpenAI CLIP
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU'))),
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/clip_vit-base-p16_openai.pth',
                      prefix='visual.')),
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
            score_mode='max_ln')),  # public code; 'logsumexp' = the paper's mixture
    train_cfg=dict(),
    # 1024x2048 at window 512x1024, stride 128 (8 patches): 5 x 9 = 45 windows per image,
    # as the DINOv2 configs
    test_cfg=dict(mode='slide', crop_size=(512, 1024), stride=(128, 128), batch_windows=8))
