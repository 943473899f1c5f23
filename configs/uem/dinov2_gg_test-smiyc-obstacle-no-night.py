# The G-G model on SMIYC ObstacleTrack-noNight (the benchmark's scene list; labels hidden: the
# benchmark server scores it). Predictions only:
#   python tools/test.py configs/uem/dinov2_gg_test-smiyc-obstacle-no-night.py CKPT \
#       --out DIR --out-format smiyc --method-name NAME
_base_ = [
    '../_base_/models/dinov2_gg.py', '../_base_/datasets/smiyc_obstacle_no_night.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
