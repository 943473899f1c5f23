"""DINOv3 checkpoint key conversion to the official layout, and the strict-load check.

The backbone stores parameters under the official facebookresearch/dinov3 names:
``cls_token`` (1, 1, D), ``storage_tokens`` (1, R, D), ``mask_token`` (1, D),
``patch_embed.proj.*``, ``rope_embed.periods`` (d/4,), ``blocks.{i}.{norm1, norm2}.*``,
``blocks.{i}.attn.qkv.{weight, bias, bias_mask}``, ``blocks.{i}.attn.proj.*``,
``blocks.{i}.{ls1, ls2}.gamma``, ``blocks.{i}.mlp.{fc1, fc2}.*`` (SwiGLU sizes:
``mlp.{w1, w2, w3}.*``), ``norm.*``. :func:`convert_dinov3_state_dict` is a pure function that
brings the other layouts to those names (wrappers and prefixes as for DINOv2,
:func:`backbone_state`):

- official ``.pth``: ``local_cls_norm.*`` (ViT-7B and the ViT-L SAT-493M file; a norm for the
  local crops of self-distillation, never used at inference) is dropped; ``bias_mask`` is
  checked: missing -> inserted, all-NaN (an uninitialised ``LinearKMaskedBias`` saved as is,
  dinov3#58) -> replaced by the mask, anything else than 1 / 0 / 1 thirds -> error;
- timm (``vit_*_patch16_dinov3*``, ``timm/models/eva.py``): ``reg_token`` -> ``storage_tokens``,
  ``gamma_{1,2}`` -> ``ls{1,2}.gamma``, ``attn.{q,v}_bias`` -> ``attn.qkv.bias`` with a zero K
  third (timm drops it: masked anyway), ``mlp.{fc1_g, fc1_x, fc2}`` -> ``mlp.{w1, w2, w3}``.
  timm's models without ``_qkvb`` have no q / v bias ("the distilled b,l,h models ended up
  with all zero biases"): zeros are inserted;
- Hugging Face ``DINOv3ViTModel``: ``embeddings.{cls_token, mask_token, register_tokens,
  patch_embeddings}``, ``layer.{i}.attention.{q,k,v,o}_proj`` (older: ``query``, ``key``,
  ``value``, ``proj``; the K bias is dropped there), ``layer_scale{1,2}.lambda1``,
  ``mlp.{up_proj, down_proj}`` (MLP) or ``mlp.{gate_proj, up_proj, down_proj}`` (SwiGLU).

timm and HF keep the RoPE periods as non-persistent buffers and drop ``mask_token`` (timm)
and ``bias_mask``: the periods are recomputed from the head count, the mask token (used only
by the masked-image training loss) is zero.
"""
import logging
import re
from collections.abc import Mapping
from typing import Optional

import torch
from mmengine.logging import print_log
from torch import Tensor

from .dinov2_converter import backbone_state, rename_keys
from .rope import rope_periods
from .vit_layers import k_bias_mask

_TIMM_RULES = (
    (re.compile(r'^reg_token$'), 'storage_tokens'),
    (re.compile(r'^blocks\.(\d+)\.gamma_([12])$'), r'blocks.\1.ls\2.gamma'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1_g\.'), r'blocks.\1.mlp.w1.'),
    (re.compile(r'^blocks\.(\d+)\.mlp\.fc1_x\.'), r'blocks.\1.mlp.w2.'),
)
_HF_RULES = (
    (re.compile(r'^embeddings\.cls_token$'), 'cls_token'),
    (re.compile(r'^embeddings\.mask_token$'), 'mask_token'),
    (re.compile(r'^embeddings\.register_tokens$'), 'storage_tokens'),
    (re.compile(r'^embeddings\.patch_embeddings\.(proj\.)?'), 'patch_embed.proj.'),
    (re.compile(r'^layer\.(\d+)\.norm([12])\.'), r'blocks.\1.norm\2.'),
    (re.compile(r'^layer\.(\d+)\.attention\.(o_proj|proj)\.'), r'blocks.\1.attn.proj.'),
    (re.compile(r'^layer\.(\d+)\.layer_scale([12])\.lambda1$'), r'blocks.\1.ls\2.gamma'),
    (re.compile(r'^layer\.(\d+)\.mlp\.gate_proj\.'), r'blocks.\1.mlp.w1.'),
    (re.compile(r'^layer\.(\d+)\.mlp\.down_proj\.'), r'blocks.\1.mlp.@down.'),
    (re.compile(r'^layer\.(\d+)\.mlp\.up_proj\.'), r'blocks.\1.mlp.@up.'),
)
_HF_QKV = re.compile(r'^layer\.(\d+)\.attention\.(q_proj|k_proj|v_proj|query|key|value)\.'
                     r'(weight|bias)$')


def layout_of(state: Mapping) -> str:
    """'official', 'timm' or 'hf', from the (unprefixed) key names."""
    if any(k.startswith(('embeddings.', 'layer.')) for k in state):
        return 'hf'
    if 'reg_token' in state or any(k.endswith(('.gamma_1', '.attn.q_bias', '.mlp.fc1_g.weight'))
                                   for k in state):
        return 'timm'
    return 'official'


def _block_ids(state: Mapping) -> list:
    return sorted({int(k.split('.')[1]) for k in state if k.startswith('blocks.')})


def _from_timm(state: dict) -> dict:
    state = rename_keys(state, _TIMM_RULES)
    for i in _block_ids(state):
        b = f'blocks.{i}.'
        if b + 'mlp.w1.weight' in state:  # SwiGLU: timm's fc2 is the official w3
            for kind in ('weight', 'bias'):
                if b + f'mlp.fc2.{kind}' in state:
                    state[b + f'mlp.w3.{kind}'] = state.pop(b + f'mlp.fc2.{kind}')
        q, v = state.pop(b + 'attn.q_bias', None), state.pop(b + 'attn.v_bias', None)
        weight = state.get(b + 'attn.qkv.weight')
        if (q is None) != (v is None):
            raise KeyError(f'{b}attn: timm checkpoint has only one of q_bias / v_bias')
        if q is None and isinstance(weight, Tensor):  # timm's qkv_bias=False variants
            q = v = weight.new_zeros(weight.shape[0] // 3)
        if q is not None:
            state[b + 'attn.qkv.bias'] = torch.cat((q, torch.zeros_like(q), v))
    return state


def _from_hf(state: dict) -> dict:
    qkv = {}
    for key in [k for k in state if _HF_QKV.match(k)]:
        i, proj, kind = _HF_QKV.match(key).groups()
        qkv.setdefault((int(i), kind), {})[proj[0]] = state.pop(key)  # 'q', 'k' or 'v'
    inv_freq = state.pop('rope_embeddings.inv_freq', None)
    state = rename_keys(state, _HF_RULES)
    for (i, kind), parts in sorted(qkv.items()):
        if kind == 'bias' and 'k' not in parts and 'q' in parts:  # HF drops the K bias
            parts['k'] = torch.zeros_like(parts['q'])
        if set(parts) != {'q', 'k', 'v'}:
            raise KeyError(f'layer.{i}.attention: Hugging Face checkpoint lacks the '
                           f'{sorted({"q", "k", "v"} - set(parts))} projection {kind}')
        state[f'blocks.{i}.attn.qkv.{kind}'] = torch.cat([parts[c] for c in 'qkv'])
    for i in _block_ids(state):
        b = f'blocks.{i}.mlp.'
        gated = any(k.startswith(b + 'w1.') for k in state)
        for kind in ('weight', 'bias'):
            for tag, (plain, swiglu) in (('@up', ('fc1', 'w2')), ('@down', ('fc2', 'w3'))):
                if b + f'{tag}.{kind}' in state:
                    state[b + f'{swiglu if gated else plain}.{kind}'] = \
                        state.pop(b + f'{tag}.{kind}')
    if isinstance(state.get('mask_token'), Tensor) and state['mask_token'].dim() == 3:
        state['mask_token'] = state['mask_token'].flatten(0, 1)  # (1, 1, D) -> (1, D)
    if inv_freq is not None:
        state['rope_embed.periods'] = 1.0 / inv_freq
    return state


def _account_for_official(state: dict, *, source: str) -> dict:
    """Drop the train-only ``local_cls_norm``, check / fill ``bias_mask``."""
    dropped = sorted(k for k in state if k.startswith('local_cls_norm.'))
    for key in dropped:
        del state[key]
    if dropped:
        print_log(f'DINOv3: {source}: not loading {", ".join(dropped)} (the local-crop class '
                  'norm of self-distillation training, unused at inference)', logger='current')
    for i in _block_ids(state):
        b = f'blocks.{i}.attn.qkv.'
        bias = state.get(b + 'bias')
        if not isinstance(bias, Tensor) or bias.dim() != 1 or bias.numel() % 3:
            if b + 'bias_mask' in state and b + 'bias' not in state:
                raise KeyError(f'{source}: {b}bias_mask without {b}bias')
            continue
        expected = k_bias_mask(bias.numel() // 3).to(bias.dtype)
        mask = state.get(b + 'bias_mask')
        if mask is None:
            state[b + 'bias_mask'] = expected
        elif not isinstance(mask, Tensor) or mask.shape != expected.shape or mask.is_meta:
            continue  # the strict check lists a shape mismatch; meta: shapes only
        elif torch.isnan(mask).all():
            print_log(f'DINOv3: {source}: {b}bias_mask is NaN (a LinearKMaskedBias saved '
                      'before initialisation, dinov3#58): using the K-bias mask 1/0/1',
                      logger='current', level=logging.WARNING)
            state[b + 'bias_mask'] = expected
        elif not torch.equal(mask.to(expected.dtype), expected):
            raise ValueError(f'{source}: {b}bias_mask is not 1 for the Q and V thirds and 0 '
                             'for the K third; this is not a DINOv3 checkpoint as published')
    return state


def convert_dinov3_state_dict(checkpoint: Mapping, *, prefix: Optional[str] = None,
                              num_heads: Optional[int] = None,
                              source: str = 'checkpoint') -> dict[str, Tensor]:
    """Bring a DINOv3 state dict of the official, timm or Hugging Face layout to the
    official key names.

    Args:
        checkpoint: what ``torch.load`` returned: a state dict or a wrapper around one.
        prefix: keep only the keys under this prefix (default as :func:`backbone_state`).
        num_heads: the model's head count, to recompute ``rope_embed.periods`` (base 100)
            when the file has none (timm, HF); None: leave it missing.
        source: how messages name the file.

    Returns:
        A new dict (the input is not modified).
    """
    state = backbone_state(checkpoint, prefix=prefix)
    layout = layout_of(state)
    if layout == 'timm':
        state = _from_timm(state)
    elif layout == 'hf':
        state = _from_hf(state)
    state = _account_for_official(state, source=source)
    cls = state.get('cls_token')
    if isinstance(cls, Tensor):
        if 'mask_token' not in state:  # timm drops it
            state['mask_token'] = cls.new_zeros((1, cls.shape[-1]))
        if 'rope_embed.periods' not in state and num_heads:  # timm, HF: not persistent
            state['rope_embed.periods'] = rope_periods(cls.shape[-1] // num_heads)
    return state


def state_signature(state: Mapping) -> dict:
    """Architecture read from an official-layout state dict: embed_dims, num_layers,
    head_dims (from the RoPE periods), ffn ('mlp' or the SwiGLU width), qkv_bias."""
    sig = {}
    cls = state.get('cls_token')
    if isinstance(cls, Tensor):
        sig['embed_dims'] = cls.shape[-1]
    sig['num_layers'] = len(_block_ids(state))
    periods = state.get('rope_embed.periods')
    if isinstance(periods, Tensor):
        sig['head_dims'] = 4 * periods.numel()
    w1 = state.get('blocks.0.mlp.w1.weight')
    fc1 = state.get('blocks.0.mlp.fc1.weight')
    sig['ffn'] = ('mlp', fc1.shape[0]) if isinstance(fc1, Tensor) else \
        ('swiglu', w1.shape[0]) if isinstance(w1, Tensor) else None
    sig['qkv_bias'] = 'blocks.0.attn.qkv.bias' in state
    return sig
