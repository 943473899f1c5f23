# Demo, Table 4 section: inlier mIoU on the miniature Cityscapes val split of the
# RbA-fine-tuned D network.
_base_ = ['./demo_d_rba.py', '../../_base_/datasets/demo_cityscapes_val.py']
test_dataloader = {{_base_.demo_cityscapes_val_dataloader}}
test_evaluator = {{_base_.demo_miou_evaluator}}
