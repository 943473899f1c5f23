# SMIYC obstacle track (RoadObstacle21): the 30 public validation frames (.webp), labels
# {0 road, 1 obstacle, 255 off-road}: the region of interest is the road. Numbers are not
# comparable with the paper's, which come from the server's hidden 327-frame test set.
# Tested at native resolution, as the official RoadAnomaly / FS LaF evaluation (the
# official code has no SMIYC loader).
smiyc_obstacle_type = 'SMIYCDataset'
smiyc_obstacle_root = 'data/dataset_ObstacleTrack/'
smiyc_obstacle_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOoDAnnotations'),
    dict(type='PackSegInputs'),
]
# mmseg's names: `test_pipeline` is what mmseg.apis.inference_model runs (our annotation
# loader passes inputs without a label through); `tta_pipeline` is tools/test.py --tta:
# 3 scales x 2 flips, averaged by UEMTTAModel (not part of the paper's protocol).
test_pipeline = smiyc_obstacle_pipeline
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadOoDAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=smiyc_obstacle_type,
        track='obstacle',
        split='validation',
        data_root=smiyc_obstacle_root,
        pipeline=smiyc_obstacle_pipeline))
test_dataloader = val_dataloader
# Obstacle-track component thresholds (SMIYC): predicted components < 50 px removed,
# GT components < 10 px turned void (anomaly track: 500 / 100, OoDMetric's defaults).
val_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'], min_pred_size=50,
                     min_gt_size=10)
test_evaluator = val_evaluator
