# Stage 1, G: GMM inlier head on frozen DINOv3 ViT-L/16, Cityscapes, 90k steps
# (the DINOv2 recipe; 512x1024 crops, no padding to the patch grid needed).
_base_ = [
    '../_base_/models/dinov3_vitl16_g.py', '../_base_/datasets/cityscapes_patch16.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_stage1_90k.py'
]
