"""Building blocks of the DINOv2 ViT, with the official parameter names.

Shape key: B batch, D embed dim, N tokens, H heads, h x w patch grid, M stored grid side.

Module and attribute names (``proj``, ``qkv``, ``ls1.gamma``, ``mlp.fc1`` / ``mlp.w12`` ...)
follow facebookresearch/dinov2 ``dinov2/layers/*.py`` so that official state dicts load
without renaming. Attention goes through ``F.scaled_dot_product_attention`` (the official
code uses xFormers when present, else an explicit softmax; all three compute the same).
"""
import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LN_EPS = 1e-6  # every LayerNorm of DINOv2 (``partial(nn.LayerNorm, eps=1e-6)``)


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` convolution: (B, 3, H, W) -> (B, D, H/p, W/p).

    H and W must be multiples of ``patch_size`` (the backbone pads before calling).
    """

    def __init__(self, patch_size: int, embed_dims: int, in_channels: int = 3) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x)


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection."""

    def __init__(self, embed_dims: int, num_heads: int) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D); softmax(q k^T / sqrt(D/H)) v per head."""
        B, N, D = x.shape
        # (B, N, 3D) -> (3, B, H, N, D/H): the official split order of the fused projection
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # default scale = (D/H) ** -0.5
        # (B, H, N, D/H) -> (B, N, D)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class Mlp(nn.Module):
    """fc1 -> GELU (exact erf form) -> fc2."""

    def __init__(self, embed_dims: int, hidden_dims: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(embed_dims, hidden_dims)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class SwiGLUFFN(nn.Module):
    """SwiGLU FFN as DINOv2's ``SwiGLUFFNFused`` (ViT-g/14): w3(silu(x1) * x2).

    The hidden width is rounded as in the official code: ``(int(hidden * 2 / 3) + 7) // 8 * 8``
    (ViT-g: 6144 -> 4096, so ``w12`` is (8192, 1536) and ``w3`` is (1536, 4096)).
    """

    def __init__(self, embed_dims: int, hidden_dims: int) -> None:
        super().__init__()
        hidden_dims = swiglu_hidden_dims(hidden_dims)
        self.w12 = nn.Linear(embed_dims, 2 * hidden_dims)
        self.w3 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(x1) * x2)


def swiglu_hidden_dims(hidden_dims: int) -> int:
    """Official SwiGLU width: 2/3 of the MLP width, rounded up to a multiple of 8."""
    return (int(hidden_dims * 2 / 3) + 7) // 8 * 8


class LayerScale(nn.Module):
    """Per-channel residual scale ``gamma`` (D,)."""

    def __init__(self, embed_dims: int, init_value: float) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((embed_dims,), float(init_value)))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.gamma


def drop_path(x: Tensor, rate: float, training: bool) -> Tensor:
    """Stochastic depth: zero whole samples of a residual branch, rescale the rest."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class Block(nn.Module):
    """Pre-norm transformer block: x + ls1(attn(norm1 x)), then x + ls2(mlp(norm2 x)).

    ``layer_scale_init`` None or 0 drops LayerScale (and its ``ls*.gamma`` keys), as the
    official ``init_values``. Stochastic depth is per sample with separate masks for the two
    branches (the official code uses a batch-subset variant; equal in expectation, unused at
    inference).
    """

    def __init__(self, embed_dims: int, num_heads: int, *, mlp_ratio: float, ffn_type: str,
                 layer_scale_init: Optional[float], drop_path_rate: float) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.norm1 = nn.LayerNorm(embed_dims, eps=LN_EPS)
        self.attn = Attention(embed_dims, num_heads)
        self.norm2 = nn.LayerNorm(embed_dims, eps=LN_EPS)
        self.mlp = Mlp(embed_dims, hidden) if ffn_type == 'mlp' else SwiGLUFFN(embed_dims, hidden)
        if layer_scale_init:
            self.ls1 = LayerScale(embed_dims, layer_scale_init)
            self.ls2 = LayerScale(embed_dims, layer_scale_init)
        else:
            self.ls1 = self.ls2 = nn.Identity()
        self.drop_path_rate = drop_path_rate

    def forward(self, x: Tensor) -> Tensor:
        """(B, N, D) -> (B, N, D)."""
        x = x + drop_path(self.ls1(self.attn(self.norm1(x))), self.drop_path_rate, self.training)
        return x + drop_path(self.ls2(self.mlp(self.norm2(x))), self.drop_path_rate, self.training)


def bicubic_matrix(size, side: int, offset: float) -> Tensor:
    """(size, side) float32 matrix ``R`` with ``R @ x`` = PyTorch's bicubic resize of ``x``
    (``side`` samples) by ``scale_factor=(size + offset) / side`` (``align_corners=False``,
    cubic coefficient -0.75, taps beyond the border clamped to it), as
    ``upsample_bicubic2d``. ``size`` may be symbolic (a traced grid size): every operation
    on it is a tensor operation."""
    dst = torch.arange(size, dtype=torch.float32)  # (size,)
    count = dst[-1:].double() + 1  # size, as a tensor
    # input step per output step: 1 / scale in float64, then float32, as upsample_bicubic2d
    step = (side / (count + offset)).float()
    src = step * (dst + 0.5) - 0.5  # where each output samples the input
    first = torch.floor(src)
    t = src - first
    a = -0.75
    # the four taps' weights (Keys' cubic convolution), first - 1 .. first + 2
    weights = [((a * (t + 1) - 5 * a) * (t + 1) + 8 * a) * (t + 1) - 4 * a,
               ((a + 2) * t - (a + 3)) * t * t + 1,
               ((a + 2) * (1 - t) - (a + 3)) * (1 - t) * (1 - t) + 1,
               ((a * (2 - t) - 5 * a) * (2 - t) + 8 * a) * (2 - t) - 4 * a]
    columns = torch.arange(side, dtype=torch.float32)  # (side,)
    matrix = torch.zeros(1, side)
    for k, weight in enumerate(weights):
        tap = torch.clamp(first + (k - 1), 0, side - 1)  # (size,)
        matrix = matrix + weight[:, None] * (tap[:, None] == columns[None]).float()
    return matrix


def interpolate_pos_embed(pos_embed: Tensor, grid: tuple[int, int], *, antialias: bool,
                          offset: float) -> Tensor:
    """Resize stored position embeddings to a patch grid, as DINOv2 ``interpolate_pos_encoding``.

    Args:
        pos_embed: (1, 1 + M*M, D) stored embeddings, class token first.
        grid: (h, w) target patch grid.
        antialias: bicubic with antialias (register models: True).
        offset: if non-zero, interpolate by ``scale_factor=((h+offset)/M, (w+offset)/M)``
            (non-register models: 0.1, a historical work-around kept for fidelity; the scale
            factor, not the size, then sets the sampling positions); if 0, by ``size=(h, w)``.

    Returns:
        (1, 1 + h*w, D) in the dtype of ``pos_embed``, computed in float32. A square grid of
        the stored size returns ``pos_embed`` itself, as the official code does.
    """
    h, w = grid
    n_stored = pos_embed.shape[1] - 1
    side = int(math.sqrt(n_stored))
    if side * side != n_stored:
        raise ValueError(f'stored pos_embed has {n_stored} patch entries, not a square grid')
    if h * w == n_stored and h == w:
        return pos_embed
    cls_pos, patch_pos = pos_embed.float()[:, :1], pos_embed.float()[:, 1:]
    dim = pos_embed.shape[-1]
    # (1, M*M, D) -> (1, D, M, M) for F.interpolate
    patch_pos = patch_pos.reshape(1, side, side, dim).permute(0, 3, 1, 2)
    if offset and not antialias and torch.compiler.is_exporting():
        # the same resize as matrices built from the grid size in the graph: an exported
        # graph with a dynamic H and W cannot hold the scale factor as a constant
        patch_pos = torch.einsum('hi,bdij,wj->bdhw', bicubic_matrix(h, side, offset),
                                 patch_pos, bicubic_matrix(w, side, offset))
    else:
        if offset:
            size_kw = dict(scale_factor=((h + offset) / side, (w + offset) / side))
        else:
            size_kw = dict(size=(h, w))
        patch_pos = F.interpolate(patch_pos, mode='bicubic', antialias=antialias, **size_kw)
    if tuple(patch_pos.shape[-2:]) != (h, w):
        raise RuntimeError(f'pos_embed interpolation gave {tuple(patch_pos.shape[-2:])}, '
                           f'expected {(h, w)}')
    # (1, D, h, w) -> (1, h*w, D)
    patch_pos = patch_pos.permute(0, 2, 3, 1).reshape(1, h * w, dim)
    return torch.cat((cls_pos, patch_pos), dim=1).to(pos_embed.dtype)
