# False alarms of the DINOv3 ViT-L/16 D-D model on normal frames: Cityscapes val as an all-inlier
# set (trainIds 0-18 -> 0 inlier, 255 void), scored with FA-img / FA-px at a given threshold, e.g.
# the FS LaF run's TPR-95% operating point (a set without anomalies has no threshold of its own):
#   python tools/test.py configs/uem/dinov3_vitl16_dd_test-cityscapes-inliers.py CKPT \
#       --threshold work_dirs/dinov3_vitl16_dd_test-fs-laf/operating_point.json
_base_ = [
    '../_base_/models/dinov3_vitl16_dd.py', '../_base_/datasets/cityscapes_inliers_patch16.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
