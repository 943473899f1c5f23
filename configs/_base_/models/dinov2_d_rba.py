# RbA outlier supervision (paper Table 4) on the stage-1 D network (frozen DINOv2 + pixel
# decoder + linear head). RbA (NazirNayal8/RbA, *_coco_mix_finetune.yaml) fine-tunes with its
# usual segmentation losses plus a squared hinge on the score -sum_k tanh F_k, with backbone,
# pixel decoder and transformer decoder frozen except the class / mask MLPs: here the
# backbone and the pixel decoder stay frozen and the per-pixel classifier (conv_seg, the part
# that maps features to class scores) trains. Scored with RbA's own score.
_base_ = './dinov2_d.py'
model = dict(
    stage1_checkpoint='work_dirs/dinov2_d_stage1_cityscapes',  # its latest checkpoint
    trainable_modules=['decode_head.conv_seg'],
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True),
        # margins: RbA mask2former/config.py INLIER_UPPER / OUTLIER_LOWER_THRESHOLD
        dict(type='RbAOutlierLoss', inlier_margin=-1.0, outlier_margin=-0.1,
             outlier_index=254, ignore_index=255, loss_weight=1.0),
    ]),
    test_cfg=dict(score='RbA'))
