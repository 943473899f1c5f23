# Demo: inlier mIoU of the stage-2 model on the miniature Cityscapes val split
# (must equal the stage-1 model's: stage 2 leaves stage 1 bitwise unchanged).
_base_ = './demo_gd.py'
demo_root = '{{$UEM_DEMO_DATA:work_dirs/demo/data/}}'  # tools/demo.py sets it to <work_dir>/data/
test_dataloader = dict(
    _delete_=True,
    batch_size=1, num_workers=1, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CityscapesDataset',
        data_root=demo_root + 'cityscapes/',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(type='LoadAnnotations'),
            dict(type='PackSegInputs'),
        ]))
test_evaluator = dict(_delete_=True, type='IoUMetric', iou_metrics=['mIoU'])
