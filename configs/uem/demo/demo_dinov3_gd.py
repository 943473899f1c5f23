# Demo, DINOv3 section, stage 2 (G-D): demo_gd.py on the frozen DINOv3 stage-1 network.
_base_ = ['./demo_gd.py', '../../_base_/models/demo_tiny_dinov3.py']
model = {{_base_.demo_dinov3}}
stage1_config = 'configs/uem/demo/demo_dinov3_g_stage1.py'
