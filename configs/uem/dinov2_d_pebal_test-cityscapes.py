# Table 4, the inlier cost: Cityscapes val mIoU of the PEBAL-fine-tuned D network (compare
# with the stage-1 network it started from, which the UEM keeps bitwise unchanged):
#   python tools/test.py configs/uem/dinov2_d_pebal_test-cityscapes.py CKPT --eval mIoU
_base_ = [
    '../_base_/models/dinov2_d_pebal.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
train_dataloader = None  # testing only: mmengine refuses a train_dataloader without train_cfg
