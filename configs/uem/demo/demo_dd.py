# Demo, Table 4 section, UEM (D-D): a linear UEM head on the frozen demo D network
# (demo_d_stage1.py), trained as demo_gd.py trains the G-D one, for 100 steps (as RbA and
# PEBAL in demo_d_rba.py / demo_d_pebal.py, which inherit this data and schedule).
_base_ = './demo_gd.py'
embed_dims = 96
model = dict(
    stage1_checkpoint='work_dirs/demo/table4/d_stage1/iter_100.pth',
    decode_head=dict(
        _delete_=True,
        type='LinearDecoderHead',
        in_channels=[embed_dims] * 4,
        channels=64,
        final_mlp_channels=None,
        num_classes=19,
        outlier_index=254,
        ignore_index=255))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=False, begin=0, end=10),
    dict(type='PolyLR', eta_min=1e-6, power=1.0, by_epoch=False, begin=10, end=100),
]
train_cfg = dict(max_iters=100, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=100), logger=dict(interval=10))
stage1_config = 'configs/uem/demo/demo_d_stage1.py'
