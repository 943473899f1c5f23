# The demo's inlier mIoU test on the miniature Cityscapes val split, for every
# configs/uem/demo/*_test-cityscapes.py. Those configs also inherit a demo model config that
# sets test_dataloader, and mmengine refuses a key set in two bases, so this file names the
# loader and the metric as variables; each test config takes them as
#   test_dataloader = {{_base_.demo_cityscapes_val_dataloader}}
#   test_evaluator = {{_base_.demo_miou_evaluator}}
demo_cityscapes_val_dataloader = dict(
    _delete_=True,  # replaces the inherited OoD test loader
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        # tools/demo.py sets UEM_DEMO_DATA to <work_dir>/data/
        data_root='{{$UEM_DEMO_DATA:work_dirs/demo/data/}}cityscapes/',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ]))
demo_miou_evaluator = dict(_delete_=True, type='IoUMetric', iou_metrics=['mIoU'])
# The same frames as a set without anomalies, for false alarms per frame (FA-img / FA-px in
# configs/uem/demo/demo_gd_test-cityscapes-inliers.py): trainIds 0-18 -> 0 inlier, 255 void
# (the label map of configs/_base_/datasets/cityscapes_inliers.py). The pipelines are
# variables too: that config sets them as its test_pipeline / tta_pipeline (mmseg's
# inference_model and tools/test.py --tta read those).
demo_inlier_labels = dict(type='LoadOoDAnnotations', raw_values=tuple(range(19)) + (255, ),
                          label_map={i: 0 for i in range(1, 19)})
demo_cityscapes_inliers_pipeline = [
    dict(type='LoadImageFromFile'), demo_inlier_labels, dict(type='PackSegInputs')]
demo_cityscapes_inliers_tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [demo_inlier_labels],
            [dict(type='PackSegInputs')],
        ])
]
demo_cityscapes_inliers_dataloader = dict(
    demo_cityscapes_val_dataloader,
    dataset=dict(demo_cityscapes_val_dataloader['dataset'],
                 pipeline=demo_cityscapes_inliers_pipeline))
