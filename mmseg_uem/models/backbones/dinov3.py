"""Frozen DINOv3 ViT backbone returning final-LayerNorm'd intermediate feature maps.

Shape key: B batch, D embed dim, R storage (register) tokens, d head dim, h x w patch grid
(stride 16).

Written for this project from the published description of facebookresearch/dinov3
``DinoVisionTransformer`` with the hub settings (``dinov3/hub/backbones.py``); no DINOv3 code
is used (its code and weights are under the DINOv3 License). The official ``.pth`` files load
as they are (same parameter names); timm and Hugging Face files through
:func:`convert_dinov3_state_dict`. Against DINOv2 (:class:`DINOv2`): patch 16, no absolute
position embedding but RoPE on q / k of the patch tokens (:mod:`.rope`), 4 storage tokens
after the class token, LayerNorm eps 1e-5, LayerScale 1e-5, a K-masked qkv bias, SwiGLU with
separate ``w1`` / ``w2`` for the '+' sizes and ViT-7B.

Output: ``get_intermediate_layers(x, n=out_indices, reshape=True, norm=True)``: every returned
block through the shared final ``norm``, class and storage tokens dropped. Sides that are not
multiples of 16 are zero-padded at the bottom / right (the official patch embedding silently
drops the remainder: the last H % 16 rows and W % 16 columns are not seen).
"""
from typing import Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor, nn
from torch.nn.init import trunc_normal_

from ...utils.checkpoint import match_state_dict, read_checkpoint
from .dinov3_converter import convert_dinov3_state_dict, state_signature
from .rope import RopePositionEmbedding
from .vit_backbone import ViTBackbone, fill_arch
from .vit_layers import Block, PatchEmbed, resolve_out_indices, swiglu_hidden_dims

LN_EPS = 1e-5  # the hub's norm_layer 'layernormbf16' is nn.LayerNorm(eps=1e-5)
PATCH_SIZE = 16

_VIT = {  # dinov3/hub/backbones.py
    'vits16': dict(embed_dims=384, num_layers=12, num_heads=6),
    'vits16plus': dict(embed_dims=384, num_layers=12, num_heads=6, mlp_ratio=6.0,
                       ffn_type='swiglu'),
    'vitb16': dict(embed_dims=768, num_layers=12, num_heads=12),
    'vitl16': dict(embed_dims=1024, num_layers=24, num_heads=16),
    'vitl16plus': dict(embed_dims=1024, num_layers=24, num_heads=16, mlp_ratio=6.0,
                       ffn_type='swiglu'),
    'vith16plus': dict(embed_dims=1280, num_layers=32, num_heads=20, mlp_ratio=6.0,
                       ffn_type='swiglu'),
    'vit7b16': dict(embed_dims=4096, num_layers=40, num_heads=32, mlp_ratio=3.0,
                    ffn_type='swiglu64', qkv_bias=False),
}
ARCHS = tuple(_VIT)
# Meta's segmentation blocks (dinov3/eval/segmentation: FOUR_EVEN_INTERVALS): every quarter
# of the depth, ending at the last block; 24 blocks: the paper's (4, 11, 17, 23)
DEFAULT_OUT_INDICES = {12: (2, 5, 8, 11), 24: (4, 11, 17, 23), 32: (7, 15, 23, 31),
                       40: (9, 19, 29, 39)}
_ARCH_DEFAULTS = dict(mlp_ratio=4.0, ffn_type='mlp', num_register_tokens=4, qkv_bias=True,
                      layer_scale_init=1e-5)
_FFN_BLOCK_TYPE = {'mlp': 'mlp', 'swiglu': 'swiglu_split', 'swiglu64': 'swiglu64_split'}


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Fill an arch name or dict into the full setting dict."""
    if isinstance(arch, str):
        if arch not in _VIT:
            raise ValueError(f'unknown DINOv3 arch {arch!r}; choose from {list(ARCHS)} or pass '
                             'a dict')
        arch = _VIT[arch]
    cfg = fill_arch(arch, defaults=_ARCH_DEFAULTS, family='DINOv3')
    if cfg['ffn_type'] not in _FFN_BLOCK_TYPE:
        raise ValueError(f'ffn_type must be one of {list(_FFN_BLOCK_TYPE)}, '
                         f"got {cfg['ffn_type']!r}")
    if cfg['embed_dims'] % (4 * cfg['num_heads']):
        raise ValueError(f"DINOv3 RoPE needs embed_dims ({cfg['embed_dims']}) divisible by "
                         f"4 * num_heads ({cfg['num_heads']})")
    return cfg


def arch_signature(cfg: dict) -> dict:
    """What :func:`state_signature` reads from a file of this arch."""
    hidden = int(cfg['embed_dims'] * cfg['mlp_ratio'])
    ffn = ('mlp', hidden) if cfg['ffn_type'] == 'mlp' else \
        ('swiglu', swiglu_hidden_dims(hidden, 64 if cfg['ffn_type'] == 'swiglu64' else 8))
    return dict(embed_dims=cfg['embed_dims'], num_layers=cfg['num_layers'],
                head_dims=cfg['embed_dims'] // cfg['num_heads'], ffn=ffn,
                qkv_bias=cfg['qkv_bias'])


def fitting_archs(state: dict) -> list:
    """Hub arch names whose layout matches an official-layout state dict."""
    sig = state_signature(state)
    return [name for name in ARCHS
            if all(sig.get(k) == v for k, v in arch_signature(resolve_arch(name)).items())]


def fit_hints(state: dict) -> list:
    """The hint line naming the hub arch(s) an official-layout state dict fits, or saying
    that none does."""
    fits = fitting_archs(state)
    if fits:
        more = f' (or {", ".join(fits[1:])})' if len(fits) > 1 else ''
        return [f"the checkpoint fits arch='{fits[0]}'{more}: set the backbone arch to match "
                'the checkpoint.']
    sig = state_signature(state)
    return [f'the checkpoint has embed_dims {sig.get("embed_dims")}, {sig["num_layers"]} blocks, '
            f'FFN {sig["ffn"]}, qkv bias {sig["qkv_bias"]}: no hub arch has this shape; pass an '
            'arch dict that does.']


@MODELS.register_module()
class DINOv3(ViTBackbone):
    """DINOv3 ViT/16 as an mmseg backbone.

    Args:
        arch: 'vits16', 'vits16plus', 'vitb16', 'vitl16', 'vitl16plus', 'vith16plus',
            'vit7b16' (the hub's settings; ViT-L's LVD-1689M and SAT-493M files both load
            into 'vitl16'), or a dict with keys embed_dims, num_layers, num_heads and
            optionally mlp_ratio (4.0), ffn_type ('mlp' | 'swiglu' | 'swiglu64'),
            num_register_tokens (4; DINOv3 calls them storage tokens), qkv_bias (True),
            layer_scale_init (1e-5; None/0 = no LayerScale).
        out_indices: 0-based blocks to return, increasing; negative counts from the end.
            Default by depth: 12 -> (2, 5, 8, 11), 24 -> (4, 11, 17, 23),
            32 -> (7, 15, 23, 31), 40 -> (9, 19, 29, 39); other depths must pass it.
        frozen: no parameter requires grad, the module stays in eval mode whatever
            ``train()`` is asked (so RoPE never augments coordinates), and forward runs under
            ``torch.no_grad()``. Not frozen: every parameter that enters the output requires
            grad; ``mask_token`` and blocks after the last out_index never do.
        drop_path_rate: stochastic depth, linearly increasing over blocks to this value.
        rope_augment: None (default: RoPE coordinates are never perturbed), or the official
            training augmentation ``dict(shift=..., jitter=..., rescale=...)`` (the hub
            pretraining used ``rescale=2``), applied in train mode; refused when frozen.
        pretrained: local checkpoint path, same as ``init_cfg=dict(type='Pretrained',
            checkpoint=...)``; loaded by :meth:`init_weights` (the Runner calls it).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH[, prefix=...])`` or None.

    Forward: (B, 3, H, W) -> tuple of (B, D, ceil(H/16), ceil(W/16)), one per out_index.
    """

    family = 'DINOv3'

    def __init__(self, arch: Union[str, dict] = 'vitb16', *,
                 out_indices: Optional[Sequence[int]] = None, frozen: bool = True,
                 drop_path_rate: float = 0.0, rope_augment: Optional[dict] = None,
                 pretrained: Optional[str] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        if frozen and rope_augment:
            raise ValueError('DINOv3: rope_augment perturbs positions in train mode; a frozen '
                             'backbone is a fixed feature extractor: set frozen=False or '
                             'drop rope_augment')
        cfg = resolve_arch(arch)
        self.arch = arch if isinstance(arch, str) else 'custom'
        self.arch_settings = cfg
        D, L, heads = cfg['embed_dims'], cfg['num_layers'], cfg['num_heads']
        self.embed_dims, self.num_layers, self.patch_size = D, L, PATCH_SIZE
        self.num_register_tokens = cfg['num_register_tokens']
        self.num_prefix_tokens = 1 + self.num_register_tokens
        self.out_indices = resolve_out_indices(out_indices, L, DEFAULT_OUT_INDICES)
        self.frozen = frozen

        self.patch_embed = PatchEmbed(PATCH_SIZE, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        if self.num_register_tokens:
            self.storage_tokens = nn.Parameter(torch.zeros(1, self.num_register_tokens, D))
        else:
            self.storage_tokens = None
        self.mask_token = nn.Parameter(torch.zeros(1, D))  # masked-image training only
        self.rope_embed = RopePositionEmbedding(D, heads, augment=rope_augment)
        rates = [drop_path_rate * i / max(L - 1, 1) for i in range(L)]  # np.linspace(0, r, L)
        self.blocks = nn.ModuleList(
            Block(D, heads, mlp_ratio=cfg['mlp_ratio'],
                  ffn_type=_FFN_BLOCK_TYPE[cfg['ffn_type']],
                  layer_scale_init=cfg['layer_scale_init'], drop_path_rate=rate, ln_eps=LN_EPS,
                  qkv_bias=cfg['qkv_bias'], mask_k_bias=True)
            for rate in rates)
        self.norm = nn.LayerNorm(D, eps=LN_EPS)
        self._random_init()
        self.finish_init()

    def _random_init(self) -> None:
        """Official initialisation (``DinoVisionTransformer.init_weights``)."""
        nn.init.normal_(self.cls_token, std=0.02)
        if self.storage_tokens is not None:
            nn.init.normal_(self.storage_tokens, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def load_pretrained(self, path: str, *, prefix: Optional[str] = None) -> None:
        """Strictly load a local checkpoint (official, timm or Hugging Face layout).

        Read by :func:`~mmseg_uem.utils.checkpoint.read_checkpoint` (``weights_only``;
        ``.safetensors`` without pickle); raises with the file name if it cannot be read, and
        a :class:`~mmseg_uem.utils.checkpoint.CheckpointMismatchError` naming the hub arch
        that fits the file if any key or shape differs from this architecture.
        """
        state = convert_dinov3_state_dict(read_checkpoint(path, what='DINOv3 checkpoint'),
                                          prefix=prefix,
                                          num_heads=self.arch_settings['num_heads'],
                                          source=path)
        self.load_converted(state, source=path)
        print_log(f'DINOv3: loaded {len(state)} tensors from {path}', logger='current')

    def load_converted(self, state: dict, *, source: str, assign: bool = False) -> None:
        """Strictly load an official-layout state dict (``assign``: take the tensors as
        they are, e.g. onto a meta-device model)."""
        match_state_dict(self, state, checkpoint=source, what='DINOv3 checkpoint',
                         target=f'the DINOv3 backbone (arch={self.arch!r})',
                         hints=fit_hints(state))
        periods = state['rope_embed.periods']
        if not periods.is_meta and (not torch.isfinite(periods).all() or (periods <= 0).any()):
            raise ValueError(f'{source}: rope_embed.periods must be finite and positive')
        with torch.no_grad():
            self.load_state_dict(state, strict=True, assign=assign)

    def prepare_tokens(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """(B, 3, h*16, w*16) -> tokens (B, 1 + R + h*w, D) and the grid (h, w)."""
        x = self.patch_embed(x)  # (B, D, h, w)
        B, _, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D)
        prefix = [self.cls_token.expand(B, -1, -1)]
        if self.storage_tokens is not None:
            prefix.append(self.storage_tokens.expand(B, -1, -1))
        # cat promotes to the parameters' dtype: under autocast the residual stream stays
        # float32 (bf16 patch tokens, fp32 class token), as in the official code
        return torch.cat((*prefix, x), dim=1), (h, w)

    def block_kwargs(self, h: int, w: int) -> dict:
        """RoPE (sin, cos) of the grid, float32, shared by every block."""
        return dict(rope=self.rope_embed(h, w))

    def extra_repr(self) -> str:
        cfg = self.arch_settings
        return (f"arch={self.arch}, embed_dims={cfg['embed_dims']}, "
                f"num_layers={cfg['num_layers']}, out_indices={self.out_indices}, "
                f'frozen={self.frozen}')
