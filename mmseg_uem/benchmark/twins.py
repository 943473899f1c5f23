"""mmpretrain's and timm's ViTs carrying our DINOv2 weights, to compare backbone speeds.

Shape key: B batch, D ViT dim, h x w patch grid.
"""
from typing import List, Optional, Sequence

from torch import Tensor, nn

from ..models.backbones.dinov2 import DINOv2
from ..models.backbones.dinov2_converter import convert_dinov2_state_dict


def mmpretrain_twin(ours: DINOv2) -> Optional[nn.Module]:
    """mmpretrain ``VisionTransformer`` with our weights (registers and mask token dropped:
    mmpretrain has none). None if mmpretrain cannot be imported."""
    try:
        from mmpretrain.models.backbones import VisionTransformer
    except ImportError:
        return None
    cfg = ours.arch_settings
    if cfg['ffn_type'] != 'mlp':
        return None
    grid = int(round((ours.pos_embed.shape[1] - 1) ** 0.5))
    twin = VisionTransformer(
        arch=dict(embed_dims=cfg['embed_dims'], num_layers=cfg['num_layers'],
                  num_heads=cfg['num_heads'],
                  feedforward_channels=int(cfg['embed_dims'] * cfg['mlp_ratio'])),
        img_size=grid * ours.patch_size, patch_size=ours.patch_size,
        out_indices=list(ours.out_indices), out_type='featmap', final_norm=True,
        layer_scale_init_value=1e-5 if cfg['layer_scale_init'] else 0.0,
        norm_cfg=dict(type='LN', eps=1e-6))
    own = ours.state_dict()
    # our converter maps mmpretrain -> official names; apply it key by key to pair them
    theirs = {}
    for key in twin.state_dict():
        official = next(iter(convert_dinov2_state_dict({key: own['cls_token']})))
        theirs[key] = own[official]
    twin.load_state_dict(theirs, strict=True)
    twin.requires_grad_(False)
    twin.eval()  # mmpretrain's BaseBackbone.train() returns None, so no chaining
    return twin


class _TimmIntermediates(nn.Module):
    """timm ViT returning the normed intermediate maps, as ``get_intermediate_layers``."""

    def __init__(self, vit: nn.Module, out_indices: Sequence[int]) -> None:
        super().__init__()
        self.vit, self.out_indices = vit, list(out_indices)

    def forward(self, x: Tensor) -> List[Tensor]:
        return self.vit.forward_intermediates(x, indices=self.out_indices, norm=True,
                                              output_fmt='NCHW', intermediates_only=True)


def timm_twin(ours: DINOv2) -> Optional[nn.Module]:
    """timm's DINOv2 ViT (registers included) with our weights through timm's own
    ``checkpoint_filter_fn``. None if timm cannot be imported."""
    try:
        from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
    except ImportError:
        return None
    cfg = ours.arch_settings
    if cfg['ffn_type'] != 'mlp':
        return None
    grid = int(round((ours.pos_embed.shape[1] - 1) ** 0.5))
    regs = ours.num_register_tokens
    # timm's vit_*_patch14_dinov2 / _reg4_dinov2 settings
    vit = VisionTransformer(
        img_size=grid * ours.patch_size, patch_size=ours.patch_size,
        embed_dim=cfg['embed_dims'], depth=cfg['num_layers'], num_heads=cfg['num_heads'],
        mlp_ratio=cfg['mlp_ratio'], init_values=1e-5 if cfg['layer_scale_init'] else None,
        reg_tokens=regs, no_embed_class=bool(regs), dynamic_img_size=True, num_classes=0)
    vit.load_state_dict(checkpoint_filter_fn(dict(ours.state_dict()), vit), strict=True)
    twin = _TimmIntermediates(vit, ours.out_indices)
    twin.requires_grad_(False)
    return twin.eval()
