# Cityscapes val (500 frames) as a set without anomalies, for false alarms on normal frames:
# gtFine labelTrainIds 0-18 -> 0 (inlier), 255 void, scored with FA-img / FA-px at a given
# threshold (tools/test.py --threshold X | operating_point.json: a set without anomalies has
# no TPR-95% threshold of its own). Frames padded centred to 1036x2058 as cityscapes.py (the
# public code's val, for 14 px patches; cityscapes_inliers_patch16.py for patch-16 models).
# Prepare: python tools/dataset_converters/cityscapes.py data/cityscapes
cityscapes_inliers_type = 'CityscapesDataset'
cityscapes_inliers_root = 'data/cityscapes/'
# the 19 train classes are all inliers; 255 stays void; any other value is an error
cityscapes_inlier_labels = dict(type='LoadOoDAnnotations', raw_values=tuple(range(19)) + (255, ),
                                label_map={i: 0 for i in range(1, 19)})
cityscapes_inliers_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='CenterPad', size=(1036, 2058), pad_val=0, pad_seg=False),
    cityscapes_inlier_labels,
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                    'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
                    'img_padding_size')),
]
# mmseg's names: `test_pipeline` is what mmseg.apis.inference_model runs; `tta_pipeline` is
# tools/test.py --tta: 3 scales x 2 flips, averaged by UEMTTAModel.
test_pipeline = cityscapes_inliers_pipeline
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [cityscapes_inlier_labels],
            [dict(type='PackSegInputs')],
        ])
]
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=cityscapes_inliers_type,
        data_root=cityscapes_inliers_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=cityscapes_inliers_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='OoDMetric', ood_metrics=['FA-img'])
test_evaluator = val_evaluator
