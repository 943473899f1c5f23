# Demo, DINOv3 section, stage 1 (G): demo_g_stage1.py with a tiny DINOv3-architecture ViT
# (demo_tiny_dinov3.py), trained from scratch on the miniature Cityscapes frames.
_base_ = ['./demo_g_stage1.py', '../../_base_/models/demo_tiny_dinov3.py']
model = {{_base_.demo_dinov3}}
