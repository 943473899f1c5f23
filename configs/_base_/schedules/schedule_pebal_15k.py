# PEBAL fine-tuning (tianyu0207/PEBAL, code/config/config.py, code/main.py): Adam lr 1e-5,
# no weight decay, poly (power 0.9, no warm-up), batch 8 (4 GPUs x 2 images), 40 epochs of
# 2975 // 8 = 371 steps = 14,840 steps, fp32.
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.999), weight_decay=0.0))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, by_epoch=False, begin=0, end=14840),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=14840, val_interval=14840)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000, max_keep_ckpts=2,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'),
)
