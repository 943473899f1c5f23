# False alarms on normal frames: Cityscapes val as an all-inlier set (trainIds 0-18 -> 0
# inlier, 255 void), scored with FA-img / FA-px at a given threshold, e.g. the FS LaF run's
# TPR-95% operating point (a set without anomalies has no threshold of its own):
#   python tools/test.py configs/uem/dinov2_gg_test-cityscapes-inliers.py CKPT \
#       --threshold work_dirs/dinov2_gg_test-fs-laf/operating_point.json
_base_ = [
    '../_base_/models/dinov2_gg.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py'
]
test_cfg = dict(type='TestLoop')
val_cfg = dict(type='ValLoop')  # mmengine: the dataset base's val_dataloader needs it
train_dataloader = None  # testing only: mmengine refuses a train_dataloader without train_cfg
# the 19 train classes are all inliers; 255 stays void
inlier_labels = dict(type='LoadOoDAnnotations', raw_values=tuple(range(19)) + (255, ),
                     label_map={i: 0 for i in range(1, 19)})
cityscapes_inlier_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='CenterPad', size=(1036, 2058), pad_val=0, pad_seg=False),
    inlier_labels,
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                    'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
                    'img_padding_size')),
]
test_pipeline = cityscapes_inlier_pipeline
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in (0.75, 1.0, 1.25)],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [inlier_labels],
            [dict(type='PackSegInputs')],
        ])
]
test_dataloader = dict(dataset=dict(pipeline=cityscapes_inlier_pipeline))
test_evaluator = dict(_delete_=True, type='OoDMetric', ood_metrics=['FA-img'])
