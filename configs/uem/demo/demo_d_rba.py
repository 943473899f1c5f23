# Demo, Table 4 section, RbA: fine-tune the demo D network's classifier (conv_seg) with CE +
# RbA's outlier loss, on the same AnomalyMix data and schedule as the demo UEM (demo_dd.py).
_base_ = './demo_dd.py'
model = dict(
    stage=1,
    auxiliary_head=None,
    trainable_modules=['decode_head.conv_seg'],
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True),
        dict(type='RbAOutlierLoss', inlier_margin=-1.0, outlier_margin=-0.1),
    ]),
    test_cfg=dict(score='RbA'))
