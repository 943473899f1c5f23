# SMIYC anomaly track (RoadAnomaly21): the 10 public validation frames, labels {0, 1, 255}.
# The paper's SMIYC numbers come from the benchmark server on the hidden 100-frame test
# set: numbers on these 10 frames are not comparable with them. split='test' yields the
# unlabelled frames for predictions only (scoring them raises).
# Tested at native resolution, as the official RoadAnomaly / FS LaF evaluation (the
# official code has no SMIYC loader).
smiyc_anomaly_type = 'SMIYCDataset'
smiyc_anomaly_root = 'data/dataset_AnomalyTrack/'
smiyc_anomaly_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOoDAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=smiyc_anomaly_type,
        track='anomaly',
        split='validation',
        data_root=smiyc_anomaly_root,
        pipeline=smiyc_anomaly_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'])
test_evaluator = val_evaluator
