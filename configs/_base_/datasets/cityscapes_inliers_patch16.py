# cityscapes_inliers.py for a patch-16 backbone (DINOv3): frames at their native 1024x2048,
# which are whole 16 px patches and which the 512x1024 windows at stride 128 tile exactly (45
# windows). The 1036x2058 pad of cityscapes_inliers.py is the public code's for 14 px patches;
# here it would add 15 windows per frame and 6 / 5 px black borders, which the patch-16
# models never see in training (their Cityscapes crops are not padded), to a set that counts
# false alarms.
_base_ = './cityscapes_inliers.py'
cityscapes_inliers_pipeline = [
    dict(type='LoadImageFromFile'),
    {{_base_.cityscapes_inlier_labels}},
    dict(type='PackSegInputs'),
]
test_pipeline = cityscapes_inliers_pipeline
val_dataloader = dict(dataset=dict(pipeline=cityscapes_inliers_pipeline))
test_dataloader = val_dataloader
