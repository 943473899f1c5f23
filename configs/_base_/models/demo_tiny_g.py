# The demo's stage-1 G network (configs/uem/demo/): dinov2_g.py at a size a CPU trains in
# minutes: a 4-block 96-dim ViT, no pretrained weights, a 64-channel decoder, on 168x336
# crops (12 x 24 patches of 14 px). Both demo stages inherit it, so the stage-2 model always
# matches the stage-1 checkpoint it loads.
_base_ = './dinov2_g.py'
embed_dims = 96
model = dict(
    data_preprocessor=dict(size=(168, 336)),  # the demo configs' crop_size
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=embed_dims, num_layers=4, num_heads=3),
        out_indices=[0, 1, 2, 3],
        init_cfg=None),
    decode_head=dict(
        in_channels=[embed_dims] * 4,
        channels=64,
        final_mlp_channels=None,
        gmm_cfg=dict(memory_size=1000),  # 19 classes x 5 components x 1000 x 64 floats = 24 MB
        # GroupNorm(32) instead of the paper's SyncBN: batch 4 of one small scene set gives
        # noisy BN statistics, and the demo's numbers were made with it
        norm_cfg=dict(_delete_=True, type='GN', num_groups=32, requires_grad=True),
    ),
    test_cfg=dict(_delete_=True, mode='whole'))
