# SMIYC ObstacleTrack-night: the 30 frames of the benchmark's night scene (driveway) in
# data/dataset_ObstacleTrack/images/ (smiyc_obstacle.py). Labels hidden: the benchmark server
# scores it, so a run writes predictions only (tools/test.py --out DIR --out-format smiyc).
_base_ = './smiyc_obstacle.py'
val_dataloader = dict(dataset=dict(split='night'))
test_dataloader = val_dataloader
