# Stage 1, G: GMM inlier head on frozen DINOv3 ViT-L/16:
# dinov2_g.py with the DINOv3 backbone of dinov3_vitl16.py.
_base_ = ['./dinov2_g.py', './dinov3_vitl16.py']
model = {{_base_.dinov3_vitl16_stage1}}
