# The demo's DINOv3 section: what the demo_dinov3_*.py configs merge into the core demo's
# (demo_tiny_g.py / demo_tiny_gd.py): a tiny DINOv3-architecture ViT (RoPE instead of a
# position table, 4 storage tokens, LayerScale, patch 16) in place of the tiny DINOv2 one,
# same width and depth, trained from scratch in stage 1 as the core demo's. LayerScale starts
# at 1 as the core demo's ViT (the hub's 1e-5 suits distillation from a teacher, not 500 steps
# from scratch). The 168x336 crops are padded with void to 176x336 (11 x 21 patches of 16 px).
demo_dinov3 = dict(
    data_preprocessor=dict(size=(176, 336)),
    backbone=dict(type='DINOv3', arch=dict(layer_scale_init=1.0)))
