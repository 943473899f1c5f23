# Stage 2 (UEM, public code): AdamW lr 5e-4, weight decay 0, 1500 linear warm-up
# steps, then poly (power 1) to 1e-7; 4000 steps; bf16 mixed precision.
optimizer = dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.0)
# bf16 autocast (public code): no loss scaling needed.
optim_wrapper = dict(type='AmpOptimWrapper', optimizer=optimizer, dtype='bfloat16',
                     clip_grad=None)
# The public code's schedule (Hugging Face get_polynomial_decay_schedule_with_warmup) gives
# step k the rate lr * k / 1500 for k < 1500, then (lr - 1e-7) * (1 - (k - 1500) / 2500) + 1e-7.
# mmengine's LinearLR reaches its full rate at step end - 1 and PolyLR reaches eta_min at
# step end - 1, so both are one step longer (end=1501, end=4001); PolyLR starts at 1500,
# where LinearLR's last step has already set the full rate. Equal to the public schedule
# within 5e-10 (start_factor 1e-6 at step 0, where the public rate is 0).
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1501),
    dict(type='PolyLR', eta_min=1e-7, power=1.0, by_epoch=False, begin=1500, end=4001),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=4000, val_interval=4000)
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
