"""Official UEM (Lightning) checkpoints -> the state dict of ``UEMEncoderDecoder``.

Shape key: K classes, C components per class, D embedding dim, S memory slots per
component, E decoder channels, V ViT dim.

The official code (NazirNayal8/UEM-likelihood-ratio) publishes two Cityscapes segmentors
(``SegmentationModel``: GMM head "G" or linear head "D") and three OoD models
(``OoDSegmentationModel``: the segmentor under ``segmentor.`` + ``ood_projector`` +
``ood_head``; G-G, G-D, D-D). Module by module:

official (``segmentor.`` first in OoD models)   ours
----------------------------------------------  ------------------------------------------
``backbone.dinov2.*`` (the hub ViT)             ``backbone.*`` (the same names)
``backbone.learnable_layers.`` (DINOv2FPN)      ``decode_head.decoder.`` (UEMPixelDecoder)
  ``fpn1.{0,1,2,4}``, ``fpn2.{0,1}``              ``up4.{0,1,2,4}``, ``up2.{0,1}``
  ``fpn3``, ``fpn4.0``                            ``same``, ``down2.0``
  ``dino_mlp._layers.{0,2}`` Linear (out, in)     ``final_mlp.{0,2}`` 1x1 conv (out, in, 1, 1)
  ``lateral_convs.i``, ``fpn_convs.i``            the same
  ``heads.i.{4b, 4b+1}`` (conv, SyncBN of         ``scale_heads.i.{2b}.{conv, bn}``
  block b; ReLU, Upsample between)
``segmentation_head`` GMMSegHead                ``decode_head.classifier`` (GMMClassifier)
``segmentation_head._head`` Linear (K, E)       ``decode_head.conv_seg`` (K, E, 1, 1)
``ood_projector._layers.{0,2,4}`` Linear        ``auxiliary_head.projector.{0,2,4}``
``ood_head`` GMMSegHead / ``ood_head._head``    ``auxiliary_head.classifier`` / ``conv_seg``

GMMSegHead -> GMMClassifier: ``means`` (K, C, D) -> ``means``, L2-normalised (the official
forward normalises them before every use; the stored ones are the un-normalised momentum
update of the last EM step); ``diagonal`` (standard deviations) -> ``stds``; ``queue``
(K*C, D, S), row k*C + c -> ``memory`` (K, C, S, D); ``queue_ptr`` (K*C,) -> ``memory_ptr``
(K, C) (both: the next slot to write); ``iteration_counter`` (1,) float -> ``num_steps`` ()
long; ``feat_norm`` -> ``embed_norm``; ``mask_norm`` -> ``score_norm``; ``eye_matrix`` (D,)
must be all ones (it scales the fixed variance floor 1e-2 = ``var_floor``) and is not stored.

Every source tensor is mapped or, for ``eye_matrix``, checked; a key that no rule knows, a
missing key or an inconsistent shape is an error naming the file and the keys.
"""
import re
from collections.abc import Mapping
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...utils.checkpoint import match_state_dict, read_checkpoint
from ..backbones.dinov2_converter import convert_dinov2_state_dict

#: the five published layouts: inlier head, or inlier head - UEM head (G generative, D linear)
VARIANTS = ('G', 'D', 'G-G', 'G-D', 'D-D')
_OOD_PREFIX = 'segmentor.'
_LIGHTNING_KEYS = ('state_dict', 'pytorch-lightning_version')
_GMM_KEYS = ('means', 'diagonal', 'eye_matrix', 'iteration_counter', 'queue', 'queue_ptr',
             'feat_norm.weight', 'feat_norm.bias', 'mask_norm.weight', 'mask_norm.bias')
_NUM_LEVELS = 4  # DINOv2FPN: fpn1..fpn4, four lateral / output convs and upsampling heads


class Conversion(NamedTuple):
    """Result of a conversion."""

    state_dict: Dict[str, Tensor]  # our keys -> tensors
    variant: str  # one of VARIANTS
    mapping: Dict[str, str]  # source key -> our key
    checked: Dict[str, str]  # source key -> why it is checked but not stored
    arch: Dict[str, object]  # sizes read from the tensors (for the config to match)


class ConversionError(ValueError):
    """A checkpoint that is not one of the official layouts (message names file and keys)."""


def _listing(title: str, keys, limit: int = 30) -> str:
    keys = sorted(keys)
    shown = ', '.join(keys[:limit]) + (f', ... ({len(keys) - limit} more)'
                                       if len(keys) > limit else '')
    return f'\n  {title} ({len(keys)}): {shown}'


# ----------------------------------------------------------------------------- variants
def _head_kind(state: Mapping, prefix: str) -> Optional[str]:
    """'G' (GMMSegHead), 'D' (LinearHead) or None for the head under ``prefix``."""
    if f'{prefix}means' in state:
        return 'G'
    if f'{prefix}_head.weight' in state:
        return 'D'
    return None


def detect_variant(state: Mapping, *, source: str = '<state dict>') -> str:
    """The variant of an official state dict, from its keys."""
    ood = any(k.startswith((_OOD_PREFIX, 'ood_projector.', 'ood_head.')) for k in state)
    seg = _OOD_PREFIX if ood else ''
    inlier = _head_kind(state, f'{seg}segmentation_head.')
    if not any(k.startswith(f'{seg}backbone.dinov2.') for k in state) or inlier is None:
        hint = ''
        if any(k.startswith(('decode_head.', 'auxiliary_head.')) for k in state):
            hint = ('\n  it has mmseg keys (decode_head., auxiliary_head.): it is already a '
                    'checkpoint of this project, load it directly')
        raise ConversionError(
            f'{source} is not an official UEM checkpoint: expected '
            f'{seg}backbone.dinov2.* and a {seg}segmentation_head (GMMSegHead means or '
            f'LinearHead _head.weight){hint}' + _listing('keys', state))
    if not ood:
        return inlier
    uem = _head_kind(state, 'ood_head.')
    variant = f'{inlier}-{uem}'
    if uem is None or variant not in VARIANTS:
        raise ConversionError(
            f'{source}: OoD model with inlier head {inlier} and UEM head {uem or "missing"} is '
            f'none of the published variants {VARIANTS}' + _listing(
                'ood_head keys', [k for k in state if k.startswith('ood_head.')]))
    return variant


# -------------------------------------------------------------------------------- rules
Rule = Tuple['re.Pattern', Callable[[re.Match], str], Callable[[Tensor], Tensor]]


def _same(t: Tensor) -> Tensor:
    return t


def _linear_to_conv(t: Tensor) -> Tensor:
    """nn.Linear (out, in) -> 1x1 conv (out, in, 1, 1): the same map per pixel."""
    return t[:, :, None, None]


def _decoder_rules() -> List[Rule]:
    """DINOv2FPN (``backbone.learnable_layers``) -> UEMPixelDecoder (``decoder``)."""
    def heads(m: re.Match) -> str:
        level, index, name = int(m[1]), int(m[2]), m[3]
        block, part = divmod(index, 4)  # official blocks: conv, BN, ReLU[, Upsample]
        if part == 0 and name == 'weight':
            return f'scale_heads.{level}.{2 * block}.conv.weight'  # ours: ConvModule, Upsample
        if part == 1:
            return f'scale_heads.{level}.{2 * block}.bn.{name}'
        return ''
    return [
        (re.compile(r'fpn1\.([0124])\.(.+)'), lambda m: f'up4.{m[1]}.{m[2]}', _same),
        (re.compile(r'fpn2\.([01])\.(.+)'), lambda m: f'up2.{m[1]}.{m[2]}', _same),
        (re.compile(r'fpn3\.(weight|bias)'), lambda m: f'same.{m[1]}', _same),
        (re.compile(r'fpn4\.0\.(weight|bias)'), lambda m: f'down2.0.{m[1]}', _same),
        (re.compile(r'dino_mlp\._layers\.([02])\.weight'),
         lambda m: f'final_mlp.{m[1]}.weight', _linear_to_conv),
        (re.compile(r'dino_mlp\._layers\.([02])\.bias'), lambda m: f'final_mlp.{m[1]}.bias',
         _same),
        (re.compile(r'(lateral_convs|fpn_convs)\.([0-3])\.(weight|bias)'),
         lambda m: f'{m[1]}.{m[2]}.{m[3]}', _same),
        (re.compile(r'heads\.([0-3])\.(\d+)\.(.+)'), heads, _same),
    ]


def _expected_decoder_keys() -> List[str]:
    """Every key of the official DINOv2FPN with BatchNorm (the layout's 2 x 4 x ... keys)."""
    bn = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
    keys = [f'fpn1.{i}.{n}' for i in (0, 1, 4) for n in ('weight', 'bias')]
    keys += [f'fpn1.2.{n}' for n in bn]
    keys += [f'fpn2.{i}.{n}' for i in (0, 1) for n in ('weight', 'bias')]
    keys += ['fpn3.weight', 'fpn3.bias', 'fpn4.0.weight', 'fpn4.0.bias']
    keys += [f'dino_mlp._layers.{i}.{n}' for i in (0, 2) for n in ('weight', 'bias')]
    keys += [f'{c}.{i}.{n}' for c in ('lateral_convs', 'fpn_convs') for i in range(_NUM_LEVELS)
             for n in ('weight', 'bias')]
    for level in range(_NUM_LEVELS):
        for block in range(max(level, 1)):
            keys.append(f'heads.{level}.{4 * block}.weight')
            keys += [f'heads.{level}.{4 * block + 1}.{n}' for n in bn]
    return keys


# ------------------------------------------------------------------------------ heads
def _convert_gmm(src: Mapping[str, Tensor], *, source: str, where: str) -> Dict[str, Tensor]:
    """GMMSegHead tensors (unprefixed) -> GMMClassifier tensors (unprefixed)."""
    means, stds, queue, ptr = src['means'], src['diagonal'], src['queue'], src['queue_ptr']
    if means.dim() != 3 or stds.shape != means.shape:
        raise ConversionError(f'{source}: {where}means {tuple(means.shape)} and diagonal '
                              f'{tuple(stds.shape)} must both be (K, C, D)')
    K, C, D = means.shape
    if queue.dim() != 3 or queue.shape[:2] != (K * C, D) or ptr.shape != (K * C, ):
        raise ConversionError(
            f'{source}: {where}queue {tuple(queue.shape)} / queue_ptr {tuple(ptr.shape)} do not '
            f'fit means (K, C, D) = {(K, C, D)}: expected ({K * C}, {D}, S) / ({K * C},)')
    eye = src['eye_matrix']
    if eye.shape != (D, ) or not bool((eye == 1).all()):
        raise ConversionError(
            f'{source}: {where}eye_matrix must be ones of shape ({D},) (the official variance '
            f'floor 1e-2 * eye_matrix, our var_floor); got shape {tuple(eye.shape)}')
    counter = src['iteration_counter']
    if counter.numel() != 1 or float(counter) != round(float(counter)) or float(counter) < 0:
        raise ConversionError(f'{source}: {where}iteration_counter must be one non-negative '
                              f'whole number, got {counter.tolist()}')
    slots = queue.shape[2]
    if bool(((ptr < 0) | (ptr >= slots)).any()):
        raise ConversionError(f'{source}: {where}queue_ptr has values outside [0, {slots})')
    for norm, size in (('feat_norm', D), ('mask_norm', K)):
        for part in ('weight', 'bias'):
            if src[f'{norm}.{part}'].shape != (size, ):
                raise ConversionError(f'{source}: {where}{norm}.{part} has shape '
                                      f'{tuple(src[f"{norm}.{part}"].shape)}, expected ({size},)')
    return {
        'means': F.normalize(means.float(), dim=-1),
        'stds': stds,
        # (K*C, D, S), row k*C + c -> (K, C, S, D)
        'memory': queue.view(K, C, D, slots).transpose(2, 3).contiguous(),
        'memory_ptr': ptr.view(K, C).long(),
        'num_steps': torch.tensor(int(round(float(counter))), dtype=torch.long),
        'embed_norm.weight': src['feat_norm.weight'], 'embed_norm.bias': src['feat_norm.bias'],
        'score_norm.weight': src['mask_norm.weight'], 'score_norm.bias': src['mask_norm.bias'],
    }


_GMM_TARGETS = {'means': 'classifier.means', 'diagonal': 'classifier.stds',
                'iteration_counter': 'classifier.num_steps', 'queue': 'classifier.memory',
                'queue_ptr': 'classifier.memory_ptr',
                'feat_norm.weight': 'classifier.embed_norm.weight',
                'feat_norm.bias': 'classifier.embed_norm.bias',
                'mask_norm.weight': 'classifier.score_norm.weight',
                'mask_norm.bias': 'classifier.score_norm.bias'}


def _convert_head(state: Mapping[str, Tensor], src_prefix: str, dst_prefix: str, kind: str, *,
                  source: str, out: dict, mapping: dict, checked: dict) -> Dict[str, int]:
    """One GMMSegHead / LinearHead; returns its sizes."""
    if kind == 'G':
        missing = [f'{src_prefix}{k}' for k in _GMM_KEYS if f'{src_prefix}{k}' not in state]
        if missing:
            raise ConversionError(f'{source}: GMM head {src_prefix} is incomplete'
                                  + _listing('missing keys', missing))
        converted = _convert_gmm({k: state[f'{src_prefix}{k}'] for k in _GMM_KEYS},
                                 source=source, where=src_prefix)
        out.update({f'{dst_prefix}classifier.{k}': v for k, v in converted.items()})
        mapping.update({f'{src_prefix}{k}': dst_prefix + t for k, t in _GMM_TARGETS.items()})
        checked[f'{src_prefix}eye_matrix'] = 'all ones: the variance floor is var_floor'
        K, C, D = state[f'{src_prefix}means'].shape
        return dict(num_classes=K, num_components=C, channels=D,
                    memory_size=state[f'{src_prefix}queue'].shape[2])
    weight, bias = (state.get(f'{src_prefix}_head.{n}') for n in ('weight', 'bias'))
    if weight is None or bias is None or weight.dim() != 2 or bias.shape != weight.shape[:1]:
        raise ConversionError(f'{source}: linear head {src_prefix}_head needs weight (K, E) and '
                              f'bias (K,)' + _listing('keys found', [
                                  k for k in state if k.startswith(src_prefix)]))
    out[f'{dst_prefix}conv_seg.weight'] = _linear_to_conv(weight)
    out[f'{dst_prefix}conv_seg.bias'] = bias
    mapping[f'{src_prefix}_head.weight'] = f'{dst_prefix}conv_seg.weight'
    mapping[f'{src_prefix}_head.bias'] = f'{dst_prefix}conv_seg.bias'
    return dict(num_classes=weight.shape[0], channels=weight.shape[1])


# ---------------------------------------------------------------------------- convert
def _expected_backbone(state: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """The state dict (on the meta device: no memory) of our DINOv2 with the sizes found
    in ``state`` (official key names), to check the backbone key for key."""
    from ..backbones.dinov2 import DINOv2

    dims = state['cls_token'].shape[-1]
    blocks = {int(k.split('.')[1]) for k in state if k.startswith('blocks.')}
    grid = int(round((state['pos_embed'].shape[1] - 1) ** 0.5))
    patch = state['patch_embed.proj.weight'].shape[-1]
    registers = state['register_tokens'].shape[1] if 'register_tokens' in state else 0
    hidden = state.get('blocks.0.mlp.fc1.weight')
    # heads do not change any shape: dims // 64 as every DINOv2 size
    arch = dict(embed_dims=dims, num_layers=max(blocks) + 1, num_heads=max(dims // 64, 1),
                num_register_tokens=registers, patch_size=patch,
                mlp_ratio=hidden.shape[0] / dims if hidden is not None else 4.0)
    with torch.device('meta'):
        model = DINOv2(arch, out_indices=[max(blocks)], img_size=grid * patch)
    return model.state_dict()


def convert_uem_official_state_dict(state: Mapping[str, Tensor], *, variant: str = 'auto',
                                    source: str = '<state dict>') -> Conversion:
    """Convert an official UEM state dict (``checkpoint['state_dict']``) to our keys.

    Args:
        state: the Lightning module's state dict.
        variant: 'auto' (from the keys) or one of :data:`VARIANTS`, which must then match.
        source: name of the file, for errors.

    Returns:
        A :class:`Conversion`. Tensors are shared with ``state`` where no reshaping is
        needed (the GMM memories and means are new).
    """
    if variant != 'auto' and variant not in VARIANTS:
        raise ValueError(f"variant must be 'auto' or one of {VARIANTS}, got {variant!r}")
    found = detect_variant(state, source=source)
    if variant not in ('auto', found):
        raise ConversionError(f'{source} is a {found} checkpoint, not {variant} (detected from '
                              'its keys: the tensor counts in '
                              'docs/en/advanced_guides/evaluation.md)')
    seg = _OOD_PREFIX if '-' in found else ''
    out: Dict[str, Tensor] = {}
    mapping: Dict[str, str] = {}
    checked: Dict[str, str] = {}

    # backbone: the official hub names are ours
    vit_prefix = f'{seg}backbone.dinov2.'
    vit = convert_dinov2_state_dict(state, prefix=vit_prefix)
    match_state_dict(_expected_backbone(vit), vit, checkpoint=f'{source} ({vit_prefix}*)',
                     what='official UEM checkpoint', target='a DINOv2 backbone of its size')
    out.update({f'backbone.{k}': v for k, v in vit.items()})
    mapping.update({f'{vit_prefix}{k}': f'backbone.{k}' for k in vit})

    # pixel decoder
    dec_prefix = f'{seg}backbone.learnable_layers.'
    missing = [dec_prefix + k for k in _expected_decoder_keys() if dec_prefix + k not in state]
    if missing:
        raise ConversionError(f'{source}: the pixel decoder (official DINOv2FPN with '
                              'BatchNorm) is incomplete' + _listing('missing keys', missing))
    rules = _decoder_rules()
    for key in (k for k in state if k.startswith(dec_prefix)):
        name = key[len(dec_prefix):]
        for pattern, target, transform in rules:
            match = pattern.fullmatch(name)
            if match and target(match):
                dst = f'decode_head.decoder.{target(match)}'
                out[dst] = transform(state[key])
                mapping[key] = dst
                break

    # heads
    inlier, _, uem = found.partition('-')
    arch = {f'decode_head.{k}': v for k, v in _convert_head(
        state, f'{seg}segmentation_head.', 'decode_head.', inlier, source=source, out=out,
        mapping=mapping, checked=checked).items()}
    if uem:
        for i in (0, 2, 4):
            for part in ('weight', 'bias'):
                key = f'ood_projector._layers.{i}.{part}'
                if key not in state:
                    raise ConversionError(f'{source}: the UEM projector is incomplete'
                                          + _listing('missing keys', [key]))
                out[f'auxiliary_head.projector.{i}.{part}'] = state[key]
                mapping[key] = f'auxiliary_head.projector.{i}.{part}'
        arch.update({f'auxiliary_head.{k}': v for k, v in _convert_head(
            state, 'ood_head.', 'auxiliary_head.', uem, source=source, out=out,
            mapping=mapping, checked=checked).items()})
        arch['auxiliary_head.mlp_channels'] = tuple(
            state[f'ood_projector._layers.{i}.weight'].shape[0] for i in (0, 2, 4))

    unused = sorted(set(state) - set(mapping) - set(checked))
    if unused:
        raise ConversionError(f'{source}: keys of no official UEM module (nothing is dropped '
                              'silently)' + _listing('unexpected keys', unused))
    dims = vit['cls_token'].shape[-1]
    fc1 = vit.get('blocks.0.mlp.fc1.weight')
    arch.update(embed_dims=dims,
                num_layers=1 + max(int(k.split('.')[1]) for k in vit if k.startswith('blocks.')),
                num_register_tokens=vit['register_tokens'].shape[1]
                if 'register_tokens' in vit else 0,
                patch_size=vit['patch_embed.proj.weight'].shape[-1],
                # the stored position-embedding grid, in pixels (DINOv2's img_size)
                img_size=int(round((vit['pos_embed'].shape[1] - 1) ** 0.5))
                * vit['patch_embed.proj.weight'].shape[-1],
                mlp_ratio=fc1.shape[0] / dims if fc1 is not None else 4.0,
                decoder_channels=state[f'{dec_prefix}fpn_convs.0.weight'].shape[0])
    return Conversion(out, found, mapping, checked, arch)


def convert_uem_official_checkpoint(path: str, *, variant: str = 'auto') -> Conversion:
    """Read an official Lightning ``.ckpt`` safely and convert it.

    The file is read by :func:`~mmseg_uem.utils.checkpoint.read_checkpoint` with
    ``attribute_dicts`` (no pickled code runs; the EasyDict config in ``hyper_parameters``
    is read as a dict).
    """
    ckpt = read_checkpoint(path, what='official UEM checkpoint', attribute_dicts=True)
    if not all(k in ckpt for k in _LIGHTNING_KEYS) or not isinstance(ckpt['state_dict'],
                                                                      Mapping):
        hint = ''
        if 'meta' in ckpt and 'state_dict' in ckpt:
            hint = ('\n  it looks like an mmengine checkpoint (meta, state_dict): '
                    'checkpoints of this project need no conversion')
        raise ConversionError(
            f'{path} is not a PyTorch Lightning checkpoint (needs the top-level keys '
            f'{list(_LIGHTNING_KEYS)}){hint}' + _listing('top-level keys', map(str, ckpt)))
    state = ckpt['state_dict']
    bad = sorted(k for k, v in state.items() if not isinstance(v, Tensor))
    if bad:
        raise ConversionError(f'{path}: state_dict entries that are not tensors'
                              + _listing('keys', bad))
    return convert_uem_official_state_dict(state, variant=variant, source=path)
