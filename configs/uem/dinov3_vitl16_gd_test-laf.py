# Test the DINOv3 ViT-L/16 G-D model on LostAndFound test (all 1,203 frames, LLR score):
#   python tools/test.py configs/uem/dinov3_vitl16_gd_test-laf.py CKPT --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/dinov3_vitl16_gd.py', '../_base_/datasets/lost_and_found.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
