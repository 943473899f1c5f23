# Demo, Table 4 section: inlier mIoU on the miniature Cityscapes val split of the
# UEM (D-D) model: equal to the D network's (stage 2 leaves it unchanged).
_base_ = ['./demo_dd.py', '../../_base_/datasets/demo_cityscapes_val.py']
test_dataloader = {{_base_.demo_cityscapes_val_dataloader}}
test_evaluator = {{_base_.demo_miou_evaluator}}
