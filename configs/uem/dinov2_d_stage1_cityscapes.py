# Stage 1, D: linear inlier head on frozen DINOv2 ViT-B/14-reg, Cityscapes, 90k steps.
# Paper / public code: mIoU 83.11 on Cityscapes val.
_base_ = [
    '../_base_/models/dinov2_d.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_stage1_90k.py'
]
