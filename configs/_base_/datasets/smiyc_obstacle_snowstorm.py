# SMIYC ObstacleTrack-snowstorm: the 55 frames of the benchmark's snowstorm scenes
# (snowstorm1, snowstorm2) in data/dataset_ObstacleTrack/images/ (smiyc_obstacle.py). Labels
# hidden: the benchmark server scores it, so a run writes predictions only
# (tools/test.py --out DIR --out-format smiyc).
_base_ = './smiyc_obstacle.py'
val_dataloader = dict(dataset=dict(split='snowstorm'))
test_dataloader = val_dataloader
