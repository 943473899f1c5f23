"""Synthetic checkpoints in the official UEM layout (NazirNayal8/UEM-likelihood-ratio).

The key names, shapes and dtypes are those of the published Lightning checkpoints (the
official ``SegmentationModel`` / ``OoDSegmentationModel`` state dicts, mapped module by
module in docs/en/advanced_guides/evaluation.md), written here from that layout, not from
our converter.
At the default sizes a test runs in milliseconds; :data:`FULL_SIZE` gives the published
ViT-B/14 sizes (a G-G file holds 283 tensors, 317,430,429 values).
"""
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

#: the published sizes: ViT-B/14 with 4 registers at 518 px, 256 decoder channels, 19
#: classes x 5 components x 8000 memory slots, UEM projector 768 -> 512 -> 512 -> 256
FULL_SIZE = dict(vit_dims=768, vit_layers=12, registers=4, grid=37, decoder_channels=256,
                 num_classes=19, num_components=5, memory_size=8000,
                 projector=(512, 512, 256), vit_mlp_ratio=4)
_LIGHTNING_VERSION = '2.5.0.post0'  # the version the official requirements pin
_MLP_HIDDEN = 512  # DINOv2FPN.dino_mlp's hidden width (fixed in the official code)


def _bn(prefix: str, channels: int, g: torch.Generator) -> Dict[str, Tensor]:
    return {
        f'{prefix}.weight': 1 + 0.1 * torch.randn(channels, generator=g),
        f'{prefix}.bias': 0.1 * torch.randn(channels, generator=g),
        f'{prefix}.running_mean': 0.1 * torch.randn(channels, generator=g),
        f'{prefix}.running_var': 0.5 + torch.rand(channels, generator=g),
        f'{prefix}.num_batches_tracked': torch.tensor(1234, dtype=torch.long),
    }


def _linear(prefix: str, out: int, inp: int, g: torch.Generator) -> Dict[str, Tensor]:
    return {f'{prefix}.weight': torch.randn(out, inp, generator=g) / inp ** 0.5,
            f'{prefix}.bias': 0.1 * torch.randn(out, generator=g)}


def _conv(prefix: str, out: int, inp: int, k: int, g: torch.Generator, *,
          bias: bool = True, transposed: bool = False) -> Dict[str, Tensor]:
    shape = (inp, out, k, k) if transposed else (out, inp, k, k)
    state = {f'{prefix}.weight': torch.randn(*shape, generator=g) / (inp * k * k) ** 0.5}
    if bias:
        state[f'{prefix}.bias'] = 0.1 * torch.randn(out, generator=g)
    return state


def _norm(prefix: str, channels: int, g: torch.Generator) -> Dict[str, Tensor]:
    return {f'{prefix}.weight': 1 + 0.1 * torch.randn(channels, generator=g),
            f'{prefix}.bias': 0.1 * torch.randn(channels, generator=g)}


def _vit(prefix: str, dims: int, layers: int, registers: int, grid: int, patch: int,
         mlp_ratio: int, g: torch.Generator) -> Dict[str, Tensor]:
    """facebookresearch/dinov2 hub ViT (``dinov2_vit*14[_reg]``) state dict."""
    state = {f'{prefix}cls_token': 0.02 * torch.randn(1, 1, dims, generator=g),
             f'{prefix}pos_embed': 0.02 * torch.randn(1, 1 + grid * grid, dims, generator=g)}
    if registers:
        state[f'{prefix}register_tokens'] = 0.02 * torch.randn(1, registers, dims, generator=g)
    state[f'{prefix}mask_token'] = torch.zeros(1, dims)
    state.update(_conv(f'{prefix}patch_embed.proj', dims, 3, patch, g))
    hidden = mlp_ratio * dims
    for i in range(layers):
        b = f'{prefix}blocks.{i}.'
        state.update(_norm(f'{b}norm1', dims, g))
        state.update(_linear(f'{b}attn.qkv', 3 * dims, dims, g))
        state.update(_linear(f'{b}attn.proj', dims, dims, g))
        state[f'{b}ls1.gamma'] = 0.1 + 0.1 * torch.rand(dims, generator=g)
        state.update(_norm(f'{b}norm2', dims, g))
        state.update(_linear(f'{b}mlp.fc1', hidden, dims, g))
        state.update(_linear(f'{b}mlp.fc2', dims, hidden, g))
        state[f'{b}ls2.gamma'] = 0.1 + 0.1 * torch.rand(dims, generator=g)
    state.update(_norm(f'{prefix}norm', dims, g))
    return state


def _fpn(prefix: str, dims: int, channels: int, g: torch.Generator) -> Dict[str, Tensor]:
    """The official ``DINOv2FPN`` (``backbone.learnable_layers``) with SyncBatchNorm."""
    s = {}
    s.update(_norm(f'{prefix}fpn1.0', dims, g))
    s.update(_conv(f'{prefix}fpn1.1', dims, dims, 2, g, transposed=True))
    s.update(_bn(f'{prefix}fpn1.2', dims, g))
    s.update(_conv(f'{prefix}fpn1.4', dims, dims, 2, g, transposed=True))
    s.update(_norm(f'{prefix}fpn2.0', dims, g))
    s.update(_conv(f'{prefix}fpn2.1', dims, dims, 2, g, transposed=True))
    s.update(_norm(f'{prefix}fpn3', dims, g))
    s.update(_norm(f'{prefix}fpn4.0', dims, g))
    # dino_mlp: MLP(V, 512, E) with the hidden width fixed in the official code
    s.update(_linear(f'{prefix}dino_mlp._layers.0', _MLP_HIDDEN, dims, g))
    s.update(_linear(f'{prefix}dino_mlp._layers.2', channels, _MLP_HIDDEN, g))
    for i, inp in enumerate((dims, dims, dims + channels, dims)):
        s.update(_conv(f'{prefix}lateral_convs.{i}', channels, inp, 1, g))
    for i in range(4):
        s.update(_conv(f'{prefix}fpn_convs.{i}', channels, channels, 3, g))
    for level in range(4):
        for block in range(max(level, 1)):  # [conv, BN, ReLU(, Upsample)] per block
            s.update(_conv(f'{prefix}heads.{level}.{4 * block}', channels, channels, 3, g,
                           bias=False))
            s.update(_bn(f'{prefix}heads.{level}.{4 * block + 1}', channels, g))
    return s


def _gmm(prefix: str, classes: int, components: int, dims: int, slots: int,
         g: torch.Generator) -> Dict[str, Tensor]:
    """The official ``GMMSegHead``: means not unit-norm (as stored after an EM step)."""
    queue = torch.nn.functional.normalize(torch.randn(classes * components, dims, slots,
                                                      generator=g), dim=1)
    return {
        f'{prefix}means': 0.1 * torch.randn(classes, components, dims, generator=g),
        f'{prefix}diagonal': 0.1 + 0.2 * torch.rand(classes, components, dims, generator=g),
        f'{prefix}eye_matrix': torch.ones(dims),
        f'{prefix}iteration_counter': torch.tensor([321.0]),
        f'{prefix}queue': queue,
        f'{prefix}queue_ptr': torch.randint(0, slots, (classes * components, ), generator=g),
        **_norm(f'{prefix}feat_norm', dims, g), **_norm(f'{prefix}mask_norm', classes, g),
    }


def official_uem_state_dict(variant: str, *, vit_dims: int = 32, vit_layers: int = 4,
                            registers: int = 4, grid: int = 4, patch: int = 14,
                            vit_mlp_ratio: int = 4, decoder_channels: int = 16,
                            num_classes: int = 3, num_components: int = 2,
                            memory_size: int = 6, projector: Sequence[int] = (24, 24, 16),
                            seed: int = 0) -> Dict[str, Tensor]:
    """A random state dict in the official layout of ``variant`` ('G', 'D', 'G-G', 'G-D',
    'D-D'). OoD models nest the segmentor under ``segmentor.``."""
    g = torch.Generator().manual_seed(seed)
    inlier, _, uem = variant.partition('-')
    seg = 'segmentor.' if uem else ''
    state = _vit(f'{seg}backbone.dinov2.', vit_dims, vit_layers, registers, grid, patch,
                 vit_mlp_ratio, g)
    state.update(_fpn(f'{seg}backbone.learnable_layers.', vit_dims, decoder_channels, g))
    if inlier == 'G':
        state.update(_gmm(f'{seg}segmentation_head.', num_classes, num_components,
                          decoder_channels, memory_size, g))
    else:
        state.update(_linear(f'{seg}segmentation_head._head', num_classes, decoder_channels, g))
    if uem:
        widths = [vit_dims, *projector]
        for i, (inp, out) in enumerate(zip(widths[:-1], widths[1:])):
            state.update(_linear(f'ood_projector._layers.{2 * i}', out, inp, g))
        if uem == 'G':
            state.update(_gmm('ood_head.', 2, num_components, projector[-1], memory_size, g))
        else:
            state.update(_linear('ood_head._head', 2, projector[-1], g))
    return state


def lightning_checkpoint(state_dict: Dict[str, Tensor], *,
                         hyper_parameters: Optional[dict] = None) -> dict:
    """The top-level container PyTorch Lightning 2.5 writes around a state dict."""
    return {
        'epoch': 3, 'global_step': 4000, 'pytorch-lightning_version': _LIGHTNING_VERSION,
        'state_dict': state_dict,
        'loops': {'fit_loop': {'state_dict': {}, 'epoch_progress': {'total': {'ready': 4}}}},
        'callbacks': {"ModelCheckpoint{'monitor': None}": {'best_model_score': None}},
        'optimizer_states': [{'state': {}, 'param_groups': [{'lr': 1e-7, 'params': [0]}]}],
        'lr_schedulers': [{'last_epoch': 4000, '_last_lr': [1e-7]}],
        'hparams_name': 'config',
        'hyper_parameters': dict(hyper_parameters or {}),
    }
