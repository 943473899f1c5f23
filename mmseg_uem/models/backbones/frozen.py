"""A frozen wrapper around any registered backbone (the Swin / CLIP ablations of Table 1).

Shape key: B batch, C_i channels of output map i, h_i x w_i its grid.

The UEM backbone is a fixed feature extractor through both stages: no parameter trains,
no normalisation statistic or dropout mask moves, and no autograd graph is kept. DINOv2
does this itself (``DINOv2(frozen=True)``); this wrapper does it for backbones that do not,
e.g. mmseg's ``SwinTransformer`` or mmpretrain's ``VisionTransformer`` (scoped type
``'mmpretrain.VisionTransformer'``: mmengine imports ``mmpretrain.models`` on first use).
"""
import logging
from typing import Dict, Optional, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..utils.freeze import freeze


@MODELS.register_module()
class FrozenBackbone(BaseModule):
    """Build ``backbone``, freeze it, keep it in eval mode and run it under ``no_grad``.

    Pretrained weights load through the inner backbone's own ``init_weights`` (mmseg's Swin
    and mmpretrain's ViT resize position tables / embeddings there). Because those loaders
    are not strict, :meth:`init_weights` raises when a ``Pretrained`` checkpoint changed no
    parameter at all (e.g. an official Swin file not converted to mmseg keys) and warns with
    the names of parameters it left at their random initial values.

    Args:
        backbone: config of the inner backbone (any type in mmseg's ``MODELS``, or a scoped
            one such as ``'mmpretrain.VisionTransformer'``); forward must return the maps.
        patch_size: input stride whose multiples the finest output grid covers (inputs are
            zero-padded up to them); read by ``UEMEncoderDecoder`` to crop that padding off
            the decoded maps. None: the stride of ``backbone.patch_embed.projection`` (4 for
            Swin, the patch size for a ViT), if the inner backbone has one.
        init_cfg: passed on to the inner backbone (e.g. ``dict(type='Pretrained',
            checkpoint='checkpoints/x.pth', prefix='visual.')``); set it here or inside
            ``backbone``, not both.
    """

    def __init__(self, backbone: dict, *, patch_size: Optional[int] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=None)  # the inner backbone owns the initialisation
        backbone = dict(backbone)
        if init_cfg is not None:
            if backbone.get('init_cfg') is not None:
                raise ValueError('FrozenBackbone: set init_cfg on the wrapper or inside '
                                 'backbone, not both')
            backbone['init_cfg'] = init_cfg
        self.backbone = MODELS.build(backbone)
        freeze([self])
        self.patch_size = patch_size if patch_size is not None else _infer_stride(self.backbone)

    def train(self, mode: bool = True) -> 'FrozenBackbone':
        """Stay in eval mode whatever ``mode`` is (no BatchNorm statistic or dropout moves)."""
        return super().train(False)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) -> the inner backbone's maps (B, C_i, h_i, w_i), without autograd."""
        with torch.no_grad():
            return tuple(self.backbone(x))

    def init_weights(self) -> None:
        """Run the inner backbone's initialisation; check a Pretrained checkpoint loaded."""
        init_cfg = getattr(self.backbone, 'init_cfg', None)
        pretrained = isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained'
        before = _fingerprints(self.backbone) if pretrained else None
        super().init_weights()
        if not pretrained:
            return
        after = _fingerprints(self.backbone)
        unchanged = [name for name in before if torch.equal(before[name], after[name])]
        checkpoint = init_cfg.get('checkpoint')
        if len(unchanged) == len(before):
            raise RuntimeError(
                f'FrozenBackbone: checkpoint {checkpoint} changed no parameter of '
                f'{type(self.backbone).__name__}: its keys do not match (convert official '
                'weights first, or set init_cfg prefix)')
        if unchanged:
            print_log(f'FrozenBackbone: {len(unchanged)} of {len(before)} parameters not '
                      f'loaded from {checkpoint}: {unchanged[:10]}', logger='current',
                      level=logging.WARNING)


def _infer_stride(backbone: nn.Module) -> Optional[int]:
    """Stride of ``backbone.patch_embed.projection`` (mmcv / mmseg PatchEmbed), or None."""
    projection = getattr(getattr(backbone, 'patch_embed', None), 'projection', None)
    stride = getattr(projection, 'stride', None)
    if stride is None:
        return None
    strides = set(stride) if isinstance(stride, tuple) else {stride}
    if len(strides) != 1:
        raise ValueError(f'non-square patch stride {stride}: set FrozenBackbone patch_size')
    return int(strides.pop())


@torch.no_grad()
def _fingerprints(module: nn.Module) -> Dict[str, Tensor]:
    """Per-parameter (sum, sum of squares, first value) in float64: detects a load cheaply,
    without copying the weights."""
    out = {}
    for name, param in module.named_parameters():
        flat = param.detach().flatten().double()
        if flat.numel() == 0:
            continue
        out[name] = torch.stack([flat.sum(), flat.square().sum(), flat[0]]).cpu()
    return out
