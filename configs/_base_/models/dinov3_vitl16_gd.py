# Stage 2, G-D: linear UEM on the stage-1 G network on frozen DINOv3 ViT-L/16:
# dinov2_gd.py with the DINOv3 backbone of dinov3_vitl16.py.
_base_ = ['./dinov2_gd.py', './dinov3_vitl16.py']
model = {{_base_.dinov3_vitl16_on_g}}
