# cityscapes.py for a patch-16 backbone (DINOv3): the 512x1024 crops are whole patches, so
# they are padded (centred, black / void) only up to the crop size, where the public code
# pads to 518x1036 for its 14 px patches. Validation reads the frames at their native
# 1024x2048, which are whole 16 px patches and which the 512x1024 windows at stride 128 tile
# exactly (45 windows); the 1036x2058 pad of cityscapes.py (for 14 px patches) would add 15
# windows per frame and 6 / 5 px black borders the patch-16 models never see in training.
_base_ = './cityscapes.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='CenterPad', size={{_base_.crop_size}}, pad_val=0, seg_pad_val=255),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorJitter'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
