# Demo, DINOv3 section: inlier mIoU of the stage-2 model on the miniature Cityscapes val
# split (equal to the stage-1 model's: stage 2 leaves stage 1 bitwise unchanged).
_base_ = ['./demo_dinov3_gd.py', '../../_base_/datasets/demo_cityscapes_val.py']
test_dataloader = {{_base_.demo_cityscapes_val_dataloader}}
test_evaluator = {{_base_.demo_miou_evaluator}}
