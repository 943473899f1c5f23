# Cityscapes for stage 1 (inlier segmentation, no pasted objects) with mIoU on val.
# Prepare: python tools/dataset_converters/cityscapes.py data/cityscapes
cityscapes_type = 'CityscapesDataset'
cityscapes_root = 'data/cityscapes/'
crop_size = (512, 1024)
# The public code's augmentation (albumentations 1.4.24): RandomScale [0.5, 2], a plain
# RandomCrop, PadIfNeeded centred with black pixels / void labels, HorizontalFlip,
# ColorJitter() at its defaults (see mmseg_uem/datasets/transforms/color_jitter.py).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='CenterPad', size=(518, 1036), pad_val=0, seg_pad_val=255),  # 37 x 74 patches
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorJitter'),
    dict(type='PackSegInputs'),
]
# Public code: val frames at full size, padded centred to 1036x2058 (black, 6 / 5 px), and
# the sliding windows run over the padded frame; the prediction is cropped back to the label.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='CenterPad', size=(1036, 2058), pad_val=0, pad_seg=False),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs',
         meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                    'scale_factor', 'flip', 'flip_direction', 'reduce_zero_label',
                    'img_padding_size')),
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
            [dict(type='RandomFlip', prob=0., direction='horizontal'),
             dict(type='RandomFlip', prob=1., direction='horizontal')],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=cityscapes_type,
        data_root=cityscapes_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=cityscapes_type,
        data_root=cityscapes_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
