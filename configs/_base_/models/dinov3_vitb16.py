# Frozen DINOv3 ViT-B/16 (LVD-1689M weights) in place of DINOv2 ViT-B/14-reg: what the
# dinov3_vitb16_*.py model configs merge into the DINOv2 ones (same pixel decoder, heads and
# settings). Meta's weights are gated (docs: Foundation models) and read from a local file;
# nothing is downloaded. The backbone returns blocks (2, 5, 8, 11) (Meta's segmentation
# choice for this depth); the UEM reads the last one. ImageNet mean / std (LVD-1689M).
dinov3_vitb16_stage1 = dict(
    # 512x1024 crops = (32, 64) patches of 16 px: no padding needed
    data_preprocessor=dict(size=(512, 1024)),
    backbone=dict(
        _delete_=True,
        type='DINOv3',
        arch='vitb16',
        frozen=True,
        init_cfg=dict(type='Pretrained',
                      checkpoint='checkpoints/dinov3_vitb16_pretrain_lvd1689m-73cec8be.pth')),
    # 1024x2048 at window 512x1024, stride 128 (8 patches): 5 x 9 = 45 windows per image,
    # as the DINOv2 configs
    test_cfg=dict(crop_size=(512, 1024), stride=(128, 128)))
# stage 2: the stage-1 run's work dir (its last checkpoint is loaded; a file works too)
dinov3_vitb16_on_g = dict(
    dinov3_vitb16_stage1,
    stage1_checkpoint='work_dirs/dinov3_vitb16_g_stage1_cityscapes')
dinov3_vitb16_on_d = dict(
    dinov3_vitb16_stage1,
    stage1_checkpoint='work_dirs/dinov3_vitb16_d_stage1_cityscapes')
