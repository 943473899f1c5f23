# DINOv3 SAT-493M weights (satellite imagery; ViT-L/16 and ViT-7B/16): their own input
# normalisation (DINOv3 README, "Image transforms"), RGB, scaled to 0..255, and the file.
# The LVD-1689M weights use ImageNet mean / std (dinov2_g.py). The ViT-L SAT file carries a
# local-crop class norm used only in training: the loader names it and leaves it out.
dinov3_vitl16_sat493m = dict(
    data_preprocessor=dict(
        mean=[0.430 * 255, 0.411 * 255, 0.296 * 255],
        std=[0.213 * 255, 0.156 * 255, 0.143 * 255]),
    backbone=dict(init_cfg=dict(
        checkpoint='checkpoints/dinov3_vitl16_pretrain_sat493m-eadcf0ff.pth')))
dinov3_vitl16_sat493m_on_g = dict(
    dinov3_vitl16_sat493m,
    stage1_checkpoint='work_dirs/dinov3_vitl16-sat493m_g_stage1_cityscapes')
