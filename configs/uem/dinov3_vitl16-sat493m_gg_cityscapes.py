# Stage 2, G-G on frozen DINOv3 ViT-L/16 with the SAT-493M weights (their normalisation):
#   bash tools/train_two_stage.sh configs/uem/dinov3_vitl16-sat493m_gg_cityscapes.py
_base_ = ['./dinov3_vitl16_gg_cityscapes.py', '../_base_/models/dinov3_sat493m.py']
model = {{_base_.dinov3_vitl16_sat493m_on_g}}
stage1_config = 'configs/uem/dinov3_vitl16-sat493m_g_stage1_cityscapes.py'
