# RoadAnomaly (60 frames, raw labels {0, 2} -> {0, 1}, no void) as the val/test set.
# Tested at the native 720x1280 (official evaluate_ood.py: normalisation only; 9 windows
# of 518x1036 at stride 140).
road_anomaly_type = 'RoadAnomalyDataset'
road_anomaly_root = 'data/RoadAnomaly_jpg/'
road_anomaly_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOoDAnnotations'),  # raw values and 2 -> 1 come from the dataset
    dict(type='PackSegInputs'),
]
# mmseg's names: `test_pipeline` is what mmseg.apis.inference_model runs (our annotation
# loader passes inputs without a label through); `tta_pipeline` is tools/test.py --tta:
# 3 scales x 2 flips, averaged by UEMTTAModel (not part of the paper's protocol).
test_pipeline = road_anomaly_pipeline
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
        type=road_anomaly_type,
        data_root=road_anomaly_root,
        pipeline=road_anomaly_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'])
test_evaluator = val_evaluator
