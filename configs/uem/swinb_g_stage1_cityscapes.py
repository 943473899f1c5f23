# Stage 1, G, backbone ablation (paper Table 1): GMM inlier head on frozen
# Swin-B (window 12, IN-22k 384), Cityscapes, 90k steps; schedule and data as
# dinov2_g_stage1_cityscapes.py.
_base_ = [
    '../_base_/models/swinb_g.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_stage1_90k.py'
]
