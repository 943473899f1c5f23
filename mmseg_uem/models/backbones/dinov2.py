"""Frozen DINOv2 ViT backbone returning final-LayerNorm'd intermediate feature maps.

Shape key: B batch, D embed dim, N tokens, R register tokens, h x w patch grid (stride 14).

Faithful to facebookresearch/dinov2 ``DinoVisionTransformer`` with the hub settings
(``dinov2/hub/backbones.py``): official parameter names (official ``.pth`` files load as they
are), token order ``[cls, registers, patches]`` with no position embedding on registers,
position embeddings stored at 37x37 (``img_size`` 518) and interpolated at run time exactly as
``interpolate_pos_encoding``, and ``get_intermediate_layers(x, n=out_indices, reshape=True,
norm=True)`` as output: the shared final ``norm`` is applied to every returned block.
"""
from typing import Optional, Sequence, Union

import torch
from mmengine.logging import print_log
from mmseg.registry import MODELS
from torch import Tensor, nn
from torch.nn.init import trunc_normal_

from ...utils.checkpoint import match_state_dict, read_checkpoint
from .dinov2_converter import convert_dinov2_state_dict
from .vit_backbone import ViTBackbone, fill_arch
from .vit_layers import LN_EPS, Block, PatchEmbed, interpolate_pos_embed, resolve_out_indices

_VIT = {  # dinov2/models/vision_transformer.py: vit_small/base/large/giant2
    'vits14': dict(embed_dims=384, num_layers=12, num_heads=6),
    'vitb14': dict(embed_dims=768, num_layers=12, num_heads=12),
    'vitl14': dict(embed_dims=1024, num_layers=24, num_heads=16),
    'vitg14': dict(embed_dims=1536, num_layers=40, num_heads=24, ffn_type='swiglu'),
}
# Default out_indices by depth. 12: the UEM code's [1, 4, 8, 11]; 24 / 40: the evenly spaced
# blocks of the official DINOv2 depth heads (dinov2/hub/depthers.py), ending at the last block.
DEFAULT_OUT_INDICES = {12: (1, 4, 8, 11), 24: (4, 11, 17, 23), 40: (9, 19, 29, 39)}
_ARCH_DEFAULTS = dict(mlp_ratio=4.0, ffn_type='mlp', num_register_tokens=0, patch_size=14,
                      layer_scale_init=1.0)


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Fill an arch name or dict into the full setting dict."""
    if isinstance(arch, str):
        base, reg = (arch[:-4], True) if arch.endswith('_reg') else (arch, False)
        if base not in _VIT:
            names = sorted(list(_VIT) + [f'{n}_reg' for n in _VIT])
            raise ValueError(f'unknown DINOv2 arch {arch!r}; choose from {names} or pass a dict')
        arch = dict(_VIT[base], num_register_tokens=4 if reg else 0)
    cfg = fill_arch(arch, defaults=_ARCH_DEFAULTS,
                    optional=('interpolate_antialias', 'interpolate_offset'), family='DINOv2')
    cfg['ffn_type'] = {'swiglufused': 'swiglu'}.get(cfg['ffn_type'], cfg['ffn_type'])
    if cfg['ffn_type'] not in ('mlp', 'swiglu'):
        raise ValueError(f"ffn_type must be 'mlp' or 'swiglu', got {cfg['ffn_type']!r}")
    # hub: register models resize by output size with antialias, the others by scale factor
    # with the +0.1 offset (dinov2/hub/backbones.py)
    has_reg = cfg['num_register_tokens'] > 0
    cfg.setdefault('interpolate_antialias', has_reg)
    cfg.setdefault('interpolate_offset', 0.0 if has_reg else 0.1)
    return cfg


@MODELS.register_module()
class DINOv2(ViTBackbone):
    """DINOv2 ViT/14 (optionally with register tokens) as an mmseg backbone.

    Args:
        arch: 'vits14', 'vitb14', 'vitl14', 'vitg14', each optionally with '_reg' (4 register
            tokens), or a dict with keys embed_dims, num_layers, num_heads and optionally
            mlp_ratio (4.0), ffn_type ('mlp' | 'swiglu'), num_register_tokens (0),
            patch_size (14), layer_scale_init (1.0; None/0 = no LayerScale),
            interpolate_antialias / interpolate_offset (default: from the register count).
            Default 'vitb14_reg', the UEM backbone.
        out_indices: 0-based blocks to return, increasing; negative counts from the end.
            Default by depth: 12 -> (1, 4, 8, 11), 24 -> (4, 11, 17, 23),
            40 -> (9, 19, 29, 39); other depths must pass it.
        img_size: image side the stored position grid corresponds to (518 -> 37x37, the
            official checkpoints). Any input size works: embeddings are interpolated.
        frozen: no parameter requires grad, the module stays in eval mode whatever
            ``train()`` is asked, and forward runs under ``torch.no_grad()``. Not frozen:
            every parameter that enters the output requires grad; ``mask_token`` (only
            DINOv2's iBOT training loss uses it) and blocks after the last out_index never
            do.
        drop_path_rate: stochastic depth, linearly increasing over blocks to this value.
        pretrained: local checkpoint path, same as ``init_cfg=dict(type='Pretrained',
            checkpoint=...)``; loaded by :meth:`init_weights` (the Runner calls it).
        init_cfg: ``dict(type='Pretrained', checkpoint=PATH[, prefix=...])`` or None.

    Forward: (B, 3, H, W) -> tuple of (B, D, ceil(H/14), ceil(W/14)), one per out_index. H and
    W that are not multiples of 14 are zero-padded at the bottom/right first (the official code
    asserts multiples; zero is the mean colour after mmseg's normalisation).
    """

    family = 'DINOv2'

    def __init__(self, arch: Union[str, dict] = 'vitb14_reg', *,
                 out_indices: Optional[Sequence[int]] = None, img_size: int = 518,
                 frozen: bool = True, drop_path_rate: float = 0.0,
                 pretrained: Optional[str] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(pretrained=pretrained, init_cfg=init_cfg)
        cfg = resolve_arch(arch)
        self.arch_settings = cfg
        D, L, p = cfg['embed_dims'], cfg['num_layers'], cfg['patch_size']
        self.embed_dims, self.num_layers, self.patch_size = D, L, p
        self.num_register_tokens = cfg['num_register_tokens']
        self.num_prefix_tokens = 1 + self.num_register_tokens
        self.out_indices = resolve_out_indices(out_indices, L, DEFAULT_OUT_INDICES)
        self.frozen = frozen

        grid = img_size // p
        self.patch_embed = PatchEmbed(p, D)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + grid * grid, D))
        if self.num_register_tokens:
            self.register_tokens = nn.Parameter(torch.zeros(1, self.num_register_tokens, D))
        else:
            self.register_tokens = None
        self.mask_token = nn.Parameter(torch.zeros(1, D))  # iBOT masking; unused here
        rates = [drop_path_rate * i / max(L - 1, 1) for i in range(L)]  # np.linspace(0, r, L)
        self.blocks = nn.ModuleList(
            Block(D, cfg['num_heads'], mlp_ratio=cfg['mlp_ratio'], ffn_type=cfg['ffn_type'],
                  layer_scale_init=cfg['layer_scale_init'], drop_path_rate=rate)
            for rate in rates)
        self.norm = nn.LayerNorm(D, eps=LN_EPS)
        self._random_init()
        self.finish_init()

    def _random_init(self) -> None:
        """Official initialisation (``DinoVisionTransformer.init_weights``)."""
        trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.cls_token, std=1e-6)
        if self.register_tokens is not None:
            nn.init.normal_(self.register_tokens, std=1e-6)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def load_pretrained(self, path: str, *, prefix: Optional[str] = None) -> None:
        """Strictly load a local checkpoint (official, block-chunked or mmpretrain layout).

        Read by :func:`~mmseg_uem.utils.checkpoint.read_checkpoint` (``weights_only``);
        raises with the file name if it cannot be read, and a
        :class:`~mmseg_uem.utils.checkpoint.CheckpointMismatchError` if any key or shape
        differs from this architecture.
        """
        state = convert_dinov2_state_dict(read_checkpoint(path, what='DINOv2 checkpoint'),
                                          prefix=prefix)
        match_state_dict(self, state, checkpoint=path, what='DINOv2 checkpoint',
                         target='the DINOv2 backbone')
        with torch.no_grad():
            self.load_state_dict(state, strict=True)
        print_log(f'DINOv2: loaded {len(state)} tensors from {path}', logger='current')

    def prepare_tokens(self, x: Tensor) -> tuple[Tensor, tuple[int, int]]:
        """(B, 3, h*14, w*14) -> tokens (B, 1 + R + h*w, D) and the grid (h, w)."""
        x = self.patch_embed(x)  # (B, D, h, w)
        B, _, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)  # (B, h*w, D)
        # cat promotes to the parameters' dtype: under autocast the residual stream stays
        # float32 as in the official code (bf16/fp16 patch tokens, fp32 class token)
        x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1)
        pos = interpolate_pos_embed(self.pos_embed, (h, w),
                                    antialias=self.arch_settings['interpolate_antialias'],
                                    offset=self.arch_settings['interpolate_offset'])
        x = x + pos.to(x.dtype)
        if self.register_tokens is not None:  # registers go after cls, without position
            reg = self.register_tokens.expand(B, -1, -1)
            x = torch.cat((x[:, :1], reg, x[:, 1:]), dim=1)
        return x, (h, w)

    def extra_repr(self) -> str:
        cfg = self.arch_settings
        return (f"embed_dims={cfg['embed_dims']}, num_layers={cfg['num_layers']}, "
                f"registers={cfg['num_register_tokens']}, out_indices={self.out_indices}, "
                f'frozen={self.frozen}')
