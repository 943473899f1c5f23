"""An independent float64 forward of the DINOv2 / DINOv3 ViT trunk from a state dict, for the
backbone tests.

Shape key: B batch, D embed dim, N tokens, d head dim, p patch size, h x w patch grid.

Written from the published maths with explicit operations (patch unfolding instead of a
convolution, LayerNorm from mean and variance, softmax(q k^T / sqrt(d)) v per head, erf-GELU,
SwiGLU with silu = x sigmoid(x)), never through the project's modules, so that the tests
compare two implementations. What differs between the two models (position embedding, RoPE,
prefix tokens, LayerNorm eps) is passed in.
"""
import math
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor


def layer_norm(x: Tensor, weight: Tensor, bias: Tensor, eps: float) -> Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * weight + bias


def patch_embed(sd: Dict[str, Tensor], img: Tensor, patch: int) -> Tensor:
    """(B, 3, h*p, w*p) -> (B, h*w, D), row-major patches, float64."""
    B, _, H, W = img.shape
    h, w = H // patch, W // patch
    # (B, 3, h*p, w*p) -> (B, h*w, 3*p*p) patches in (c, y, x) order, as the conv kernel
    patches = img.double().reshape(B, 3, h, patch, w, patch).permute(0, 2, 4, 1, 3, 5)
    weight = sd['patch_embed.proj.weight'].double()
    return patches.reshape(B, h * w, -1) @ weight.reshape(weight.shape[0], -1).T \
        + sd['patch_embed.proj.bias'].double()


def vit_blocks(sd: Dict[str, Tensor], x: Tensor, *, grid: Sequence[int], layers: int,
               heads: int, out_indices: Sequence[int], num_prefix: int, ln_eps: float,
               ffn: str = 'mlp', mask_k_bias: bool = False,
               rotate: Optional[Callable[[Tensor], Tensor]] = None) -> List[Tensor]:
    """Run the blocks on the tokens x (B, N, D) (prefix tokens first); returns the final-norm
    maps (B, D, h, w) of ``out_indices``, prefix tokens dropped.

    ``ffn``: 'mlp' (fc1, fc2) or 'swiglu' (DINOv3's w1, w2, w3). ``mask_k_bias``: the K
    third of the qkv bias is not added. ``rotate``: applied to each head's q and k (B, N, d)
    (DINOv3's RoPE)."""
    sd = {k: v.double() for k, v in sd.items()}
    B, _, D = x.shape
    h, w = grid
    d = D // heads
    outs = []
    for i in range(layers):
        b = f'blocks.{i}.'
        y = layer_norm(x, sd[b + 'norm1.weight'], sd[b + 'norm1.bias'], ln_eps)
        qkv = y @ sd[b + 'attn.qkv.weight'].T
        if b + 'attn.qkv.bias' in sd:
            bias = sd[b + 'attn.qkv.bias'].clone()
            if mask_k_bias:
                bias[D:2 * D] = 0
            qkv = qkv + bias
        out = []
        for head in range(heads):
            q, k, v = (qkv[..., j * D + head * d:j * D + (head + 1) * d] for j in range(3))
            if rotate is not None:
                q, k = rotate(q), rotate(k)
            s = q @ k.transpose(1, 2) / math.sqrt(d)
            e = torch.exp(s - s.max(-1, keepdim=True).values)
            out.append(e / e.sum(-1, keepdim=True) @ v)
        y = torch.cat(out, -1) @ sd[b + 'attn.proj.weight'].T + sd[b + 'attn.proj.bias']
        x = x + y * sd[b + 'ls1.gamma']
        y = layer_norm(x, sd[b + 'norm2.weight'], sd[b + 'norm2.bias'], ln_eps)
        if ffn == 'mlp':
            y = y @ sd[b + 'mlp.fc1.weight'].T + sd[b + 'mlp.fc1.bias']
            y = 0.5 * y * (1 + torch.erf(y / math.sqrt(2)))
            y = y @ sd[b + 'mlp.fc2.weight'].T + sd[b + 'mlp.fc2.bias']
        else:
            g = y @ sd[b + 'mlp.w1.weight'].T + sd[b + 'mlp.w1.bias']
            u = y @ sd[b + 'mlp.w2.weight'].T + sd[b + 'mlp.w2.bias']
            y = (g / (1 + torch.exp(-g)) * u) @ sd[b + 'mlp.w3.weight'].T + sd[b + 'mlp.w3.bias']
        x = x + y * sd[b + 'ls2.gamma']
        if i in out_indices:
            t = layer_norm(x, sd['norm.weight'], sd['norm.bias'], ln_eps)[:, num_prefix:]
            outs.append(t.reshape(B, h, w, D).permute(0, 3, 1, 2))
    return outs
