# LostAndFound test (1,203 frames) as the SMIYC benchmark tooling reads it: gtCoarse labelIds
# 0 -> void, 1 (the road) -> inlier, 2..200 -> anomaly, so the region of interest is the
# labelled road (mmseg_uem/datasets/lost_and_found.py). subset='noKnown' is
# LostAndFound-testNoKnown (1,043 frames: no people or bicycles), 'valid' drops the 17
# unlabelled frames. Layout: data/lost_and_found/{leftImg8bit,gtCoarse}/test/<NN>_<scene>/.
# Tested at the native 1024x2048, as FS LaF.
laf_type = 'LostAndFoundDataset'
laf_root = 'data/lost_and_found/'
laf_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOoDAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = laf_pipeline
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
        type=laf_type, split='test', subset='all', data_root=laf_root,
        pipeline=laf_pipeline))
test_dataloader = val_dataloader
# small road obstacles, as the obstacle track: SMIYC's obstacle component thresholds
val_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'], min_pred_size=50,
                     min_gt_size=10)
test_evaluator = val_evaluator
