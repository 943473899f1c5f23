"""Building blocks of the DINOv2 and DINOv3 ViTs, with the official parameter names.

Shape key: B batch, D embed dim, N tokens, H heads, d = D/H head dim, h x w patch grid,
M stored grid side.

Module and attribute names (``proj``, ``qkv``, ``ls1.gamma``, ``mlp.fc1`` / ``mlp.w12`` /
``mlp.w1``...) follow facebookresearch/dinov2 ``dinov2/layers/*.py`` and facebookresearch/dinov3
``dinov3/layers/*.py`` so that official state dicts load without renaming. The two ViTs
share these pieces and differ only in settings: LayerNorm eps (DINOv2 1e-6, DINOv3 1e-5),
RoPE on q and k (DINOv3), a masked K third of the qkv bias (DINOv3) and the SwiGLU layout
(DINOv2 one fused ``w12``, DINOv3 separate ``w1`` / ``w2`` with width alignment 8 or 64).
Attention goes through ``F.scaled_dot_product_attention`` (the official code uses xFormers
when present, else an explicit softmax; all compute the same).
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .rope import rope_apply

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
    """Multi-head self-attention with a fused ``qkv`` projection.

    Args:
        embed_dims: D.
        num_heads: H; D must be divisible by H.
        qkv_bias: whether ``qkv`` has a bias (DINOv3 ViT-7B: no).
        mask_k_bias: DINOv3: the K third of the qkv bias is never used (the official
            ``LinearKMaskedBias`` multiplies by a stored ``bias_mask`` that is 0 there). Here
            it is zeroed by construction in :meth:`forward`, so a file whose K bias is not
            zero, or whose ``bias_mask`` is missing or NaN (dinov3#58), still gives the
            official features; ``bias_mask`` is kept as a buffer for the official key layout.
    """

    def __init__(self, embed_dims: int, num_heads: int, *, qkv_bias: bool = True,
                 mask_k_bias: bool = False) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} is not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.mask_k_bias = mask_k_bias and qkv_bias
        if self.mask_k_bias:
            self.qkv.register_buffer('bias_mask', k_bias_mask(embed_dims))

    def forward(self, x: Tensor, rope: Optional[Sequence[Tensor]] = None) -> Tensor:
        """(B, N, D) -> (B, N, D); softmax(q k^T / sqrt(d)) v per head.

        ``rope``: (sin, cos), each (h*w, d), rotating q and k of the last h*w tokens (the
        patches; the class / register tokens before them are left as they are).
        """
        B, N, D = x.shape
        bias = self.qkv.bias
        if self.mask_k_bias:  # zero K third, whatever the stored bias or mask hold
            bias = torch.cat((bias[:D], bias.new_zeros(D), bias[2 * D:]))
        # (B, N, 3D) -> (3, B, H, N, d): the official split order of the fused projection
        qkv = F.linear(x, self.qkv.weight, bias)
        qkv = qkv.reshape(B, N, 3, self.num_heads, D // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if rope is not None:
            q, k = rope_apply(q, *rope), rope_apply(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v)  # default scale = d ** -0.5
        # (B, H, N, d) -> (B, N, D)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


def k_bias_mask(embed_dims: int) -> Tensor:
    """(3D,) 1 for the Q and V thirds of a fused qkv bias, 0 for the K third (DINOv3's
    ``bias_mask`` after initialisation or loading)."""
    mask = torch.ones(3 * embed_dims)
    mask[embed_dims:2 * embed_dims] = 0
    return mask


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
    """SwiGLU FFN: w3(silu(x W1) * x W2).

    Args:
        embed_dims: D.
        hidden_dims: the MLP width D * mlp_ratio; the SwiGLU width is 2/3 of it rounded up
            to a multiple of ``align`` (official rule, :func:`swiglu_hidden_dims`).
        fused: DINOv2 (``SwiGLUFFNFused``, ViT-g/14): W1 and W2 stacked in one ``w12``
            (ViT-g: (8192, 1536), ``w3`` (1536, 4096)); DINOv3: separate ``w1`` and ``w2``.
        align: 8 (DINOv2, DINOv3 'swiglu') or 64 (DINOv3 ViT-7B 'swiglu64').
    """

    def __init__(self, embed_dims: int, hidden_dims: int, *, fused: bool = True,
                 align: int = 8) -> None:
        super().__init__()
        hidden_dims = swiglu_hidden_dims(hidden_dims, align)
        self.fused = fused
        if fused:
            self.w12 = nn.Linear(embed_dims, 2 * hidden_dims)
        else:
            self.w1 = nn.Linear(embed_dims, hidden_dims)
            self.w2 = nn.Linear(embed_dims, hidden_dims)
        self.w3 = nn.Linear(hidden_dims, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        if self.fused:
            x1, x2 = self.w12(x).chunk(2, dim=-1)
        else:
            x1, x2 = self.w1(x), self.w2(x)
        return self.w3(F.silu(x1) * x2)


def swiglu_hidden_dims(hidden_dims: int, align: int = 8) -> int:
    """Official SwiGLU width: 2/3 of the MLP width, rounded up to a multiple of ``align``."""
    d = int(hidden_dims * 2 / 3)
    return d + (-d % align)


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

    ``ffn_type``: 'mlp' (GELU MLP), 'swiglu' (DINOv2's fused SwiGLU) or 'swiglu_split' /
    'swiglu64_split' (DINOv3's SwiGLU with separate ``w1`` / ``w2``, width aligned to 8 /
    64). ``layer_scale_init`` None or 0 drops LayerScale (and its ``ls*.gamma`` keys), as the
    official ``init_values``. Stochastic depth is per sample with separate masks for the two
    branches (the official code uses a batch-subset variant; equal in expectation, unused at
    inference).
    """

    def __init__(self, embed_dims: int, num_heads: int, *, mlp_ratio: float, ffn_type: str,
                 layer_scale_init: Optional[float], drop_path_rate: float,
                 ln_eps: float = LN_EPS, qkv_bias: bool = True,
                 mask_k_bias: bool = False) -> None:
        super().__init__()
        hidden = int(embed_dims * mlp_ratio)
        self.norm1 = nn.LayerNorm(embed_dims, eps=ln_eps)
        self.attn = Attention(embed_dims, num_heads, qkv_bias=qkv_bias, mask_k_bias=mask_k_bias)
        self.norm2 = nn.LayerNorm(embed_dims, eps=ln_eps)
        self.mlp = build_ffn(ffn_type, embed_dims, hidden)
        if layer_scale_init:
            self.ls1 = LayerScale(embed_dims, layer_scale_init)
            self.ls2 = LayerScale(embed_dims, layer_scale_init)
        else:
            self.ls1 = self.ls2 = nn.Identity()
        self.drop_path_rate = drop_path_rate

    def forward(self, x: Tensor, rope: Optional[Sequence[Tensor]] = None) -> Tensor:
        """(B, N, D) -> (B, N, D); ``rope`` as :meth:`Attention.forward`."""
        x = x + drop_path(self.ls1(self.attn(self.norm1(x), rope=rope)), self.drop_path_rate,
                          self.training)
        return x + drop_path(self.ls2(self.mlp(self.norm2(x))), self.drop_path_rate, self.training)


_FFN_TYPES = {'mlp': None, 'swiglu': dict(fused=True, align=8),
              'swiglu_split': dict(fused=False, align=8),
              'swiglu64_split': dict(fused=False, align=64)}


def build_ffn(ffn_type: str, embed_dims: int, hidden_dims: int) -> nn.Module:
    """The block FFN named by ``ffn_type`` (see :class:`Block`)."""
    if ffn_type not in _FFN_TYPES:
        raise ValueError(f'ffn_type must be one of {sorted(_FFN_TYPES)}, got {ffn_type!r}')
    kw = _FFN_TYPES[ffn_type]
    return Mlp(embed_dims, hidden_dims) if kw is None else SwiGLUFFN(embed_dims, hidden_dims, **kw)


def resolve_out_indices(out_indices: Optional[Sequence[int]], depth: int,
                        defaults: dict) -> tuple:
    """0-based block indices, strictly increasing; negative ones count from the end; None:
    ``defaults[depth]``."""
    if out_indices is None:
        if depth not in defaults:
            raise ValueError(f'no default out_indices for {depth} blocks: pass out_indices')
        return tuple(defaults[depth])
    if isinstance(out_indices, int):
        out_indices = [out_indices]
    resolved = tuple(i + depth if i < 0 else i for i in out_indices)
    if not resolved or any(not 0 <= i < depth for i in resolved) or \
            any(a >= b for a, b in zip(resolved, resolved[1:])):
        raise ValueError(f'out_indices {list(out_indices)} must be strictly increasing '
                         f'block indices in [-{depth}, {depth})')
    return resolved


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
