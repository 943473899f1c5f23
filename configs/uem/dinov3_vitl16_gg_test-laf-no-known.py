# Test the DINOv3 ViT-L/16 G-G model on LostAndFound-testNoKnown (1,043 frames: the valid test
# frames without people or bicycles, as the SMIYC benchmark tooling; needs the whole test split;
# LLR score):
#   python tools/test.py configs/uem/dinov3_vitl16_gg_test-laf-no-known.py CKPT \
#       --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/dinov3_vitl16_gg.py', '../_base_/datasets/lost_and_found_no_known.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
