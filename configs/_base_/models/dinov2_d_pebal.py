# PEBAL outlier supervision (paper Table 4) on the stage-1 D network. PEBAL
# (tianyu0207/PEBAL, code/) gives the head a learnable abstention channel (K + 1 outputs),
# trains its decoder's final block with the energy-biased abstention loss + 0.1 x the energy
# regulariser, backbone frozen. Here the backbone stays frozen and the whole decode head
# (pixel decoder, classifier and the new abstention channel) trains; the stage-1 classifier
# is kept (PEBAL re-initialises it). Scored with PEBAL's smoothed energy.
_base_ = './dinov2_d.py'
model = dict(
    stage1_checkpoint='work_dirs/dinov2_d_stage1_cityscapes',  # its latest checkpoint
    trainable_modules=['decode_head'],
    decode_head=dict(
        type='AbstentionLinearHead',
        loss_decode=[
            dict(type='PEBALAbstentionLoss', num_classes=19, outlier_reg=0.1,
                 outlier_index=254, ignore_index=255, loss_weight=1.0),
            dict(type='PEBALEnergyLoss', num_classes=19, inlier_margin=-12.0,
                 outlier_margin=-6.0, sparsity_weight=5e-4, smoothness_weight=3e-6,
                 outlier_index=254, ignore_index=255, loss_weight=0.1),
        ]),
    test_cfg=dict(score='PEBAL'))
