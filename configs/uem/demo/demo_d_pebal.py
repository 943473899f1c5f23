# Demo, Table 4 section, PEBAL: fine-tune the demo D network's decode head, with a new
# abstention channel, by PEBAL's abstention loss + 0.1 x its energy regulariser, on the same
# AnomalyMix data and schedule as the demo UEM (demo_dd.py).
_base_ = './demo_dd.py'
model = dict(
    stage=1,
    auxiliary_head=None,
    trainable_modules=['decode_head'],
    decode_head=dict(
        type='AbstentionLinearHead',
        loss_decode=[
            dict(type='PEBALAbstentionLoss', num_classes=19),
            dict(type='PEBALEnergyLoss', num_classes=19, loss_weight=0.1),
        ]),
    test_cfg=dict(score='PEBAL'))
