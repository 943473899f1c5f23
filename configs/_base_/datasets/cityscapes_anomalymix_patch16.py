# cityscapes_anomalymix.py for a patch-16 backbone (DINOv3): crops padded only up to the
# 512x1024 crop size (whole 16 px patches) instead of 518x1036.
_base_ = './cityscapes_anomalymix.py'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='AnomalyMix', bank_root={{_base_.coco_root}}, prob=0.2, outlier_index=254),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size={{_base_.crop_size}}),
    dict(type='CenterPad', size={{_base_.crop_size}}, pad_val=0, seg_pad_val=255),
    dict(type='RandomFlip', prob=0.5),
    dict(type='ColorJitter'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
