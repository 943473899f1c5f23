# Stage 1, G: GMM inlier head on frozen DINOv3 ViT-B/16:
# dinov2_g.py with the DINOv3 backbone of dinov3_vitb16.py.
_base_ = ['./dinov2_g.py', './dinov3_vitb16.py']
model = {{_base_.dinov3_vitb16_stage1}}
