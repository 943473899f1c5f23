# Stage 1, G on frozen DINOv3 ViT-L/16 with the SAT-493M weights (their normalisation).
_base_ = ['./dinov3_vitl16_g_stage1_cityscapes.py', '../_base_/models/dinov3_sat493m.py']
model = {{_base_.dinov3_vitl16_sat493m}}
