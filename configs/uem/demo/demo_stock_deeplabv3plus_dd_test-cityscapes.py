# Demo: inlier mIoU of the UEM model on the stock DeepLabV3+ (miniature Cityscapes val);
# equals the stock model's own (demo_stock_deeplabv3plus.py): stage 2 changes nothing of it.
_base_ = './demo_stock_deeplabv3plus_dd.py'
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
