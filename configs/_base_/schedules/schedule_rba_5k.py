# RbA fine-tuning (NazirNayal8/RbA, Base-Cityscapes-SemanticSegmentation.yaml and
# *_coco_mix_finetune.yaml): AdamW lr 1e-4, weight decay 0.05, poly (power 0.9, no warm-up),
# 5000 steps, total batch 16 (8 GPUs x 2 images), gradients clipped to a total L2 norm of
# 0.01 over the model, mixed precision.
optimizer = dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05)
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=optimizer, dtype='bfloat16',
                     clip_grad=dict(max_norm=0.01, norm_type=2))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=0, end=5000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=5000, val_interval=5000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=1000, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
