# Stage 1, discriminative inlier head (D): same backbone and pixel decoder as G,
# with a per-pixel linear classifier 256 -> 19 and softmax cross-entropy.
_base_ = './dinov2_g.py'
model = dict(
    decode_head=dict(
        _delete_=True,
        type='LinearDecoderHead',
        in_channels=[768, 768, 768, 768],
        channels=256,
        num_classes=19,
        outlier_index=254,
        ignore_index=255,
        norm_cfg=dict(type='SyncBN', requires_grad=True)))  # as G (public code)
