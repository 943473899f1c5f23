# The G-G model on SMIYC ObstacleTrack-night (the benchmark's scene list; labels hidden: the
# benchmark server scores it). Predictions only:
#   python tools/test.py configs/uem/dinov2_gg_test-smiyc-obstacle-night.py CKPT \
#       --out DIR --out-format smiyc --method-name NAME
_base_ = ['./dinov2_gg_test-smiyc-obstacle.py']
test_dataloader = dict(dataset=dict(split='night'))
val_dataloader = test_dataloader
