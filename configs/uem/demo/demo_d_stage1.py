# Demo, Table 4 section: the D inlier network that UEM, RbA and PEBAL share. Backbone and
# pixel decoder are those of the demo's stage 1 (demo_g_stage1.py trains them from scratch:
# no pretrained weights ship), loaded and frozen as the paper freezes DINOv2; a linear
# classifier (the D head's conv_seg) is trained on them, which takes a CPU a minute, not the
# ten a whole stage 1 would.
_base_ = './demo_g_stage1.py'
embed_dims = 96
core_stage1 = 'work_dirs/demo/stage1/iter_500.pth'
model = dict(
    trainable_modules=['decode_head.conv_seg'],
    backbone=dict(
        frozen=True,
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint=core_stage1,
                      prefix='backbone.')),
    decode_head=dict(
        _delete_=True,
        type='LinearDecoderHead',
        in_channels=[embed_dims] * 4,
        channels=64,
        final_mlp_channels=None,
        num_classes=19,
        outlier_index=254,
        ignore_index=255,
        # the pixel decoder of the core stage 1 (its GMM classifier keys are not used)
        init_cfg=dict(type='Pretrained', checkpoint=core_stage1, prefix='decode_head.')))
optim_wrapper = dict(optimizer=dict(lr=5e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=1e-6, power=1.0, by_epoch=False, begin=10, end=100),
]
train_cfg = dict(max_iters=100, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=100), logger=dict(interval=10))
