# Demo: inlier mIoU of the UEM model on the stock DeepLabV3+ (miniature Cityscapes val);
# equals the stock model's own (demo_stock_deeplabv3plus.py): stage 2 changes nothing of it.
_base_ = ['./demo_stock_deeplabv3plus_dd.py', '../../_base_/datasets/demo_cityscapes_val.py']
test_dataloader = {{_base_.demo_cityscapes_val_dataloader}}
test_evaluator = {{_base_.demo_miou_evaluator}}
