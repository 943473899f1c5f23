"""UEMEncoderDecoder configs of every variant at any size: the one model factory of the
tests and the benchmarks.

The paper's settings by default; tests pass a tiny ViT and small widths.
"""
from typing import Optional, Sequence

from ..models.backbones import dinov2, dinov3
from ..models.backbones.dinov2 import DEFAULT_OUT_INDICES

_RESOLVE_ARCH = {'DINOv2': dinov2.resolve_arch, 'DINOv3': dinov3.resolve_arch}


def default_out_indices(num_layers: int) -> tuple:
    """The UEM blocks for ViT-B depth, else four evenly spaced blocks ending at the last."""
    if num_layers in DEFAULT_OUT_INDICES:
        return DEFAULT_OUT_INDICES[num_layers]
    return tuple(sorted({max(round(num_layers * (i + 1) / 4) - 1, 0) for i in range(4)}))


def segmentor_cfg(variant: str, *, arch, out_indices: Sequence[int], channels: int = 256,
                  num_classes: int = 19, memory_size: int = 8000,
                  mlp_channels: Sequence[int] = (512, 512, 256),
                  test_cfg: Optional[dict] = None, final_mlp_channels: Optional[int] = -1,
                  norm_cfg: Optional[dict] = None, gmm_cfg: Optional[dict] = None,
                  alpha: Optional[float] = None, backbone: Optional[dict] = None,
                  backbone_type: str = 'DINOv2', **model) -> dict:
    """UEMEncoderDecoder config: 'G' / 'D' (stage 1) or 'G-G' / 'G-D' / 'D-D' (stage 2),
    with the paper's settings unless the sizes are overridden.

    Args:
        final_mlp_channels: of the pixel decoder; -1: min(512, 2 * channels).
        norm_cfg: of the pixel decoder; None: GroupNorm with 32 groups (1 if ``channels``
            is not a multiple of 32).
        gmm_cfg: of both GMM classifiers; None: ``memory_size`` slots, and EM every 3 steps
            in a GMM UEM (the official G-G UEM, ``configs/_base_/models/dinov2_gg.py``).
        alpha: UEMHead's CE weight; None: 0.5 for G-G, 0 otherwise (the official configs).
        backbone: more backbone arguments (e.g. DINOv2's ``img_size``).
        backbone_type: 'DINOv2' or 'DINOv3' (``arch`` is that backbone's).
        model: more UEMEncoderDecoder arguments (``data_preprocessor``, ``train_cfg``...).
    """
    inlier, _, uem = variant.partition('-')
    embed_dims = _RESOLVE_ARCH[backbone_type](arch)['embed_dims']
    if final_mlp_channels == -1:
        final_mlp_channels = min(512, 2 * channels)
    if norm_cfg is None:
        norm_cfg = dict(type='GN', num_groups=32 if channels % 32 == 0 else 1, requires_grad=True)
    decode = dict(type='GMMHead' if inlier == 'G' else 'LinearDecoderHead',
                  in_channels=[embed_dims] * 4, channels=channels, num_classes=num_classes,
                  final_mlp_channels=final_mlp_channels, norm_cfg=norm_cfg)
    if inlier == 'G':
        decode['gmm_cfg'] = dict(gmm_cfg or dict(memory_size=memory_size))
    cfg = dict(type='UEMEncoderDecoder', stage=2 if uem else 1, decode_head=decode,
               backbone=dict(type=backbone_type, arch=arch, out_indices=tuple(out_indices),
                             **(backbone or {})),
               test_cfg=test_cfg or dict(mode='whole'), **model)
    if uem:
        cfg['auxiliary_head'] = dict(
            type='UEMHead', in_channels=embed_dims, mlp_channels=tuple(mlp_channels),
            classifier='gmm' if uem == 'G' else 'linear', num_inlier_classes=num_classes,
            alpha=(0.5 if variant == 'G-G' else 0.0) if alpha is None else alpha,
            gmm_cfg=dict(gmm_cfg or dict(memory_size=memory_size, update_interval=3))
            if uem == 'G' else None)
    return cfg
