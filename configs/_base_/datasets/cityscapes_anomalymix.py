# Cityscapes train split with AnomalyMix: COCO objects pasted with label 254 (UEM stage 2).
# Paste first, at full resolution, then augment (UEM `configs/segmentation/ood/base.yaml`).
# Crops are padded centred to 518x1036 (multiples of the 14 px patch) as the public code;
# the rest of the augmentation is the public code's too (see cityscapes.py).
# Names are prefixed so this file combines with one OoD test-set config as `_base_`.
# Prepare: tools/dataset_converters/cityscapes.py data/cityscapes and
#          tools/dataset_converters/coco_outliers.py data/coco
cityscapes_type = 'CityscapesDataset'
cityscapes_root = 'data/cityscapes/'
coco_root = 'data/coco/'
crop_size = (512, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='AnomalyMix', bank_root=coco_root, prob=0.2, outlier_index=254),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='CenterPad', size=(518, 1036), pad_val=0, seg_pad_val=255),  # 37 x 74 patches
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorJitter'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=cityscapes_type,
        data_root=cityscapes_root,
        data_prefix=dict(
            img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
