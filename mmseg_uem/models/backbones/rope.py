"""Axial rotary position embedding (RoPE) of the DINOv3 ViT.

Shape key: d head dim, h x w patch grid, P = h*w patches.

DINOv3 has no absolute position embedding: q and k of the patch tokens are rotated by angles
that depend on the patch centre (facebookresearch/dinov3 ``layers/rope_position_encoding.py``
and ``layers/attention.py``; written here from that maths, not copied):

- ``periods[j] = base ** (2j / (d/2))`` for j < d/4 (a persistent buffer, ``base`` 100);
- patch-centre coordinates ``(i + 0.5) / h`` and ``(j + 0.5) / w``, normalised per axis
  ('separate') and mapped from [0, 1] to [-1, 1];
- ``angles = 2 pi coord / period``: (P, 2, d/4) -> (P, d/2) (all row angles, then all column
  angles) -> tiled twice to (P, d);
- ``x cos + rotate_half(x) sin`` with ``rotate_half([a, b]) = [-b, a]``.

Everything is computed in float32 with autocast off (the hub builds the official model with
``pos_embed_rope_dtype='fp32'``); q and k are rotated in float32 and cast back.

The official module perturbs the coordinates in training mode (random shift / jitter /
rescale; the hub sets ``rescale_coords=2``), so an official model left in ``train()`` sees
other positions at every step. Here there is no augmentation unless ``augment`` asks for it,
and the backbone refuses it when frozen.
"""
import math
from typing import Optional

import torch
from torch import Tensor, nn

_AUGMENT_KEYS = ('shift', 'jitter', 'rescale')


def rope_periods(head_dims: int, base: float = 100.0) -> Tensor:
    """(d/4,) float32 periods ``base ** (2j / (d/2))``."""
    if head_dims % 4:
        raise ValueError(f'RoPE needs a head dim divisible by 4, got {head_dims}')
    return base ** (2 * torch.arange(head_dims // 4, dtype=torch.float32) / (head_dims // 2))


def patch_coords(h: int, w: int, *, device=None) -> Tensor:
    """(h*w, 2) float32 (row, column) patch centres in [-1, 1], row-major patch order."""
    rows = torch.arange(0.5, h, device=device, dtype=torch.float32) / h
    cols = torch.arange(0.5, w, device=device, dtype=torch.float32) / w
    coords = torch.stack(torch.meshgrid(rows, cols, indexing='ij'), dim=-1)  # (h, w, 2)
    return 2.0 * coords.flatten(0, 1) - 1.0


def rope_sincos(coords: Tensor, periods: Tensor) -> tuple[Tensor, Tensor]:
    """(P, 2) coordinates, (d/4,) periods -> (sin, cos), each (P, d), float32."""
    angles = 2 * math.pi * coords.float()[:, :, None] / periods.float()[None, None, :]
    angles = angles.flatten(1, 2).tile(2)  # (P, 2, d/4) -> (P, d/2) -> (P, d)
    return torch.sin(angles), torch.cos(angles)


def rotate_half(x: Tensor) -> Tensor:
    """[a, b] -> [-b, a] along the last dim (halves a, b)."""
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


def rope_apply(x: Tensor, sin: Tensor, cos: Tensor) -> Tensor:
    """Rotate the last P tokens of x (B, H, N, d) in float32; the N - P prefix tokens (class,
    registers) pass unchanged. Returns x's dtype."""
    prefix = x.shape[-2] - sin.shape[-2]
    if prefix < 0:
        raise ValueError(f'{x.shape[-2]} tokens but RoPE for {sin.shape[-2]} patches')
    patches = x[..., prefix:, :].float()
    rotated = (patches * cos + rotate_half(patches) * sin).to(x.dtype)
    return torch.cat((x[..., :prefix, :], rotated), dim=-2)


class RopePositionEmbedding(nn.Module):
    """Holds the official ``periods`` buffer (key ``rope_embed.periods``) and gives (sin, cos)
    for a patch grid.

    Args:
        embed_dims: D; num_heads: H (head dim d = D/H, divisible by 4).
        base: period base (DINOv3 hub: 100).
        augment: None (default), or a dict with any of ``shift`` (add U(-s, s) per axis),
            ``jitter`` (scale each axis by a log-uniform factor in [1/j, j]) and ``rescale``
            (scale both axes by one log-uniform factor in [1/r, r]), applied in training
            mode only, in that order (the official training augmentation).
    """

    def __init__(self, embed_dims: int, num_heads: int, *, base: float = 100.0,
                 augment: Optional[dict] = None) -> None:
        super().__init__()
        augment = dict(augment or {})
        unknown = set(augment) - set(_AUGMENT_KEYS)
        if unknown:
            raise ValueError(f'RoPE augment keys must be among {_AUGMENT_KEYS}, got '
                             f'{sorted(unknown)}')
        self.augment = augment
        self.register_buffer('periods', rope_periods(embed_dims // num_heads, base))

    def forward(self, h: int, w: int) -> tuple[Tensor, Tensor]:
        """(sin, cos), each (h*w, d) float32, autocast off."""
        device = self.periods.device
        with torch.autocast(device_type=device.type, enabled=False):
            coords = patch_coords(h, w, device=device)
            if self.training and self.augment:
                coords = self._augmented(coords)
            return rope_sincos(coords, self.periods)

    def _augmented(self, coords: Tensor) -> Tensor:
        shift, jitter, rescale = (self.augment.get(k) for k in _AUGMENT_KEYS)
        if shift:
            coords = coords + coords.new_empty(1, 2).uniform_(-shift, shift)
        if jitter:
            coords = coords * coords.new_empty(1, 2).uniform_(-math.log(jitter),
                                                               math.log(jitter)).exp()
        if rescale:
            coords = coords * coords.new_empty(1).uniform_(-math.log(rescale),
                                                            math.log(rescale)).exp()
        return coords

    def extra_repr(self) -> str:
        return f'head_dims={4 * self.periods.numel()}, augment={self.augment or None}'
