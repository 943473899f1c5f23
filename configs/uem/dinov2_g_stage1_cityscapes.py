# Stage 1, G: GMM inlier head on frozen DINOv2 ViT-B/14-reg, Cityscapes, 90k steps.
# Paper / public code: mIoU 82.57 on Cityscapes val. Trained on 4 GPUs x batch 2
# (bash tools/dist_train.sh configs/uem/dinov2_g_stage1_cityscapes.py 4).
_base_ = [
    '../_base_/models/dinov2_g.py', '../_base_/datasets/cityscapes.py',
    '../_base_/default_runtime.py', '../_base_/schedules/schedule_stage1_90k.py'
]
