# Stage 1, D: linear inlier head on frozen DINOv3 ViT-L/16:
# dinov2_d.py with the DINOv3 backbone of dinov3_vitl16.py.
_base_ = ['./dinov2_d.py', './dinov3_vitl16.py']
model = {{_base_.dinov3_vitl16_stage1}}
