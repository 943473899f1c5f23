# Test the G-G model on LostAndFound-testNoKnown (1,043 frames: the valid test frames without
# people or bicycles, as the SMIYC benchmark tooling; needs the whole test split):
#   python tools/test.py configs/uem/dinov2_gg_test-laf-no-known.py CKPT --eval AP FPR95 AUROC
_base_ = ['./dinov2_gg_test-laf.py']
test_dataloader = dict(dataset=dict(subset='noKnown'))
val_dataloader = test_dataloader
