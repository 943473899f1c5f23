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
