"""What the DINOv2 and DINOv3 backbones share: arguments, freezing, padding and the
``get_intermediate_layers(x, n=out_indices, reshape=True, norm=True)`` output.

Shape key: B batch, D embed dim, N tokens, p patch size, h x w patch grid.

A subclass builds ``patch_embed``, ``blocks``, ``norm`` and ``mask_token`` and implements
:meth:`ViTBackbone.prepare_tokens` (the token sequence, prefix tokens first) and
:meth:`ViTBackbone.load_pretrained`; :meth:`ViTBackbone.block_kwargs` passes per-grid
extras to every block (DINOv3: the RoPE sin / cos).
"""
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from ..utils.freeze import freeze

#: the keys every arch dict must have
REQUIRED_ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads')


def fill_arch(arch: dict, *, defaults: dict, optional: Sequence[str] = (),
              family: str) -> dict:
    """An arch dict with ``defaults`` filled in; raises naming the unknown and missing keys
    (allowed: :data:`REQUIRED_ARCH_KEYS`, ``defaults``' keys and ``optional``)."""
    arch = dict(arch)
    unknown = set(arch) - {*REQUIRED_ARCH_KEYS, *defaults, *optional}
    missing = set(REQUIRED_ARCH_KEYS) - set(arch)
    if unknown or missing:
        raise ValueError(f'bad {family} arch dict: unknown keys {sorted(unknown)}, '
                         f'missing keys {sorted(missing)}')
    return {**defaults, **arch}


class ViTBackbone(BaseModule):
    """Base of the frozen foundation ViTs (see :class:`DINOv2` for the arguments).

    Subclasses set ``family`` (used in messages), and before :meth:`finish_init` the
    attributes ``patch_size``, ``num_prefix_tokens`` (class + register tokens),
    ``out_indices`` and ``frozen``.
    """

    family = 'ViT'

    def __init__(self, *, pretrained: Optional[str], init_cfg: Optional[dict]) -> None:
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('pass either pretrained or init_cfg, not both')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        if init_cfg is not None and not (isinstance(init_cfg, dict)
                                         and init_cfg.get('type') == 'Pretrained'
                                         and 'checkpoint' in init_cfg):
            raise ValueError(f"{self.family} init_cfg must be dict(type='Pretrained', "
                             f'checkpoint=PATH[, prefix=...]) or None, got {init_cfg}')
        super().__init__(init_cfg=init_cfg)

    def finish_init(self) -> None:
        """After the modules exist: parameters that never receive a gradient are not
        trainable (the mask token, used only by the masked-image training loss and kept for
        the checkpoint keys, and the blocks after the last returned one; DDP would otherwise
        wait for their gradients at the second step); frozen: nothing trains."""
        self.mask_token.requires_grad_(False)
        self.blocks[self.out_indices[-1] + 1:].requires_grad_(False)
        if self.frozen:
            freeze([self])

    def init_weights(self) -> None:
        """Load the ``Pretrained`` checkpoint if one is configured; otherwise keep the random
        official initialisation done at construction."""
        if self.init_cfg is not None:
            self.load_pretrained(self.init_cfg['checkpoint'], prefix=self.init_cfg.get('prefix'))
        self._is_init = True

    def load_pretrained(self, path: str, *, prefix: Optional[str] = None) -> None:
        raise NotImplementedError

    def train(self, mode: bool = True) -> 'ViTBackbone':
        """Frozen: stay in eval mode (no drop path, no RoPE augmentation, no statistic
        moves)."""
        return super().train(mode and not self.frozen)

    def prepare_tokens(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """(B, 3, h*p, w*p) -> tokens (B, N, D), prefix tokens first, and the grid (h, w)."""
        raise NotImplementedError

    def block_kwargs(self, h: int, w: int) -> dict:
        """Keyword arguments every block gets for an h x w grid (none by default)."""
        return {}

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        """(B, 3, H, W) -> tuple of (B, D, ceil(H/p), ceil(W/p)) for each out_index.

        H and W that are not multiples of p are zero-padded at the bottom / right first
        (zero is the mean colour after mmseg's normalisation)."""
        if self.frozen:
            with torch.no_grad():
                return self._forward(x)
        return self._forward(x)

    def _forward(self, x: Tensor) -> tuple[Tensor, ...]:
        H, W = x.shape[-2:]
        p = self.patch_size
        pad_h, pad_w = -H % p, -W % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))  # zeros at the bottom / right
        x, (h, w) = self.prepare_tokens(x)
        kwargs = self.block_kwargs(h, w)
        B = x.shape[0]
        outs = []
        for i, blk in enumerate(self.blocks[:self.out_indices[-1] + 1]):  # later blocks unused
            x = blk(x, **kwargs)
            if i in self.out_indices:
                # the shared final norm, then drop class and register tokens: (B, h*w, D)
                tokens = self.norm(x)[:, self.num_prefix_tokens:]
                # (B, h*w, D) -> (B, D, h, w), row-major patch order
                outs.append(tokens.reshape(B, h, w, -1).permute(0, 3, 1, 2).contiguous())
        return tuple(outs)
