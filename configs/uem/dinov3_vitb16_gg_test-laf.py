# Test the DINOv3 ViT-B/16 G-G model on LostAndFound test (all 1,203 frames, LLR score):
#   python tools/test.py configs/uem/dinov3_vitb16_gg_test-laf.py CKPT --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/dinov3_vitb16_gg.py', '../_base_/datasets/lost_and_found.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
