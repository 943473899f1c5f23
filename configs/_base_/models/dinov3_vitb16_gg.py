# Stage 2, G-G: GMM UEM on the stage-1 G network on frozen DINOv3 ViT-B/16:
# dinov2_gg.py with the DINOv3 backbone of dinov3_vitb16.py.
_base_ = ['./dinov2_gg.py', './dinov3_vitb16.py']
model = {{_base_.dinov3_vitb16_on_g}}
