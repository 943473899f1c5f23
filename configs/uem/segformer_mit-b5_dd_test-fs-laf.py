# Test the D-D UEM on mmseg's stock segformer_mit-b5 Cityscapes model on fs-laf: LLR score;
# the stock model's own scores with --cfg-options model.test_cfg.score=MSP|MaxLogit|Energy
#   python tools/test.py configs/uem/segformer_mit-b5_dd_test-fs-laf.py \
#       CKPT --eval AP FPR95 AUROC
_base_ = [
    '../_base_/models/segformer_mit-b5_dd.py', '../_base_/datasets/fs_laf.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
