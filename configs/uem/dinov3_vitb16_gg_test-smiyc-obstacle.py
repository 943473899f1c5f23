# Test the DINOv3 ViT-B/16 G-G model on smiyc obstacle (LLR score):
#   python tools/test.py configs/uem/dinov3_vitb16_gg_test-smiyc-obstacle.py CKPT \
#       --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/dinov3_vitb16_gg.py', '../_base_/datasets/smiyc_obstacle.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
