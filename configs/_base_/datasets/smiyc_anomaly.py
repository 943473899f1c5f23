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
# mmseg's names: `test_pipeline` is what mmseg.apis.inference_model runs (our annotation
# loader passes inputs without a label through); `tta_pipeline` is tools/test.py --tta:
# 3 scales x 2 flips, averaged by UEMTTAModel (not part of the paper's protocol).
test_pipeline = smiyc_anomaly_pipeline
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
        type=smiyc_anomaly_type,
        track='anomaly',
        split='validation',
        data_root=smiyc_anomaly_root,
        pipeline=smiyc_anomaly_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'])
test_evaluator = val_evaluator
