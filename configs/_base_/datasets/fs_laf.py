# Fishyscapes Lost & Found validation (100 frames, labels {0, 1, 255}) as the val/test set.
# Layout: data/fishyscapes/fishyscapes_lostandfound/*_labels.png (Fishyscapes labels) and
# data/fishyscapes/lost_and_found/leftImg8bit/{train,test}/<scene>/ (LostAndFound images).
# Tested at the native 1024x2048 (official evaluate_ood.py: normalisation only).
fs_laf_type = 'FishyscapesLaFDataset'
fs_laf_root = 'data/fishyscapes/'
fs_laf_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOoDAnnotations'),
    dict(type='PackSegInputs'),
]
# mmseg's names: `test_pipeline` is what mmseg.apis.inference_model runs (our annotation
# loader passes inputs without a label through); `tta_pipeline` is tools/test.py --tta:
# 3 scales x 2 flips, averaged by UEMTTAModel (not part of the paper's protocol).
test_pipeline = fs_laf_pipeline
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
        type=fs_laf_type,
        data_root=fs_laf_root,
        data_prefix=dict(
            img_path='lost_and_found/leftImg8bit',
            seg_map_path='fishyscapes_lostandfound'),
        pipeline=fs_laf_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'])
test_evaluator = val_evaluator
