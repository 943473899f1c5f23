# The DINOv3 ViT-L/16 D-D model on SMIYC ObstacleTrack-snowstorm (the benchmark's scene list;
# labels hidden: the benchmark server scores it). Predictions only:
#   python tools/test.py configs/uem/dinov3_vitl16_dd_test-smiyc-obstacle-snowstorm.py CKPT \
#       --out DIR --out-format smiyc --method-name NAME
_base_ = [
    '../_base_/models/dinov3_vitl16_dd.py', '../_base_/datasets/smiyc_obstacle_snowstorm.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
