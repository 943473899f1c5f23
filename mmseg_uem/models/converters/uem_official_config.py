"""The config of a converted official UEM checkpoint: the overrides of a paper config that
make its model take the file (``tools/model_converters/uem_official2mmseg.py``).

A released file at the paper's sizes needs none; a reduced-width or otherwise non-default
file (another ViT, decoder width, class count, memory size, projector) needs the settings
below, under their real config keys (``model.decode_head.gmm_cfg.memory_size``, not the
converter's size names), written as a delta config that inherits the paper config.
"""
import inspect
import os.path as osp
import pprint
from typing import Any, Dict, Mapping

from ..backbones.dinov2 import _VIT, DEFAULT_OUT_INDICES, DINOv2, resolve_arch
from ..decode_heads.gmm_classifier import GMMClassifier

_DEFAULT_IMG_SIZE = inspect.signature(DINOv2).parameters['img_size'].default
_MAX_SAMPLES = inspect.signature(GMMClassifier).parameters['max_sample_per_component'].default
_BACKBONE_ARCH_KEYS = ('embed_dims', 'num_layers', 'num_heads', 'num_register_tokens',
                       'patch_size', 'mlp_ratio')


def _backbone_arch(arch: Mapping[str, Any]) -> Any:
    """The DINOv2 ``arch`` of the file: a name if one has these sizes, else a dict (with
    ``_delete_``: it replaces the paper config's name instead of merging into it)."""
    dims = int(arch['embed_dims'])
    want = dict(embed_dims=dims, num_layers=int(arch['num_layers']),
                num_heads=max(dims // 64, 1),  # every DINOv2 size: 64-dim heads
                num_register_tokens=int(arch['num_register_tokens']),
                patch_size=int(arch['patch_size']), mlp_ratio=float(arch['mlp_ratio']))
    for name in _VIT:
        for full in (name, f'{name}_reg'):
            resolved = resolve_arch(full)
            if all(resolved[k] == want[k] for k in _BACKBONE_ARCH_KEYS):
                return full
    return dict(_delete_=True, **want)


def _get(cfg: Mapping, dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split('.'):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def config_overrides(arch: Mapping[str, Any], variant: str,
                     cfg: Mapping) -> Dict[str, Any]:
    """The settings (dotted config keys -> values) that the model of ``cfg`` (the paper
    config of ``variant``, read as a dict) must change to take a file with the sizes
    ``arch`` (:attr:`~mmseg_uem.models.converters.uem_official.Conversion.arch`); the
    settings the config already has are left out."""
    inlier, _, uem = variant.partition('-')
    dims = int(arch['embed_dims'])
    wanted: Dict[str, Any] = {}
    backbone = _backbone_arch(arch)
    current = _get(cfg, 'model.backbone.arch')
    plain = {k: v for k, v in backbone.items() if k != '_delete_'} \
        if isinstance(backbone, dict) else backbone
    if current is None or resolve_arch(current) != resolve_arch(plain):
        wanted['model.backbone.arch'] = backbone
        layers = int(arch['num_layers'])
        if layers not in DEFAULT_OUT_INDICES:
            # the file does not record which blocks feed the decoder: evenly spaced, ending
            # at the last block, as DINOv2's own heads take them
            wanted['model.backbone.out_indices'] = [
                round((i + 1) * layers / 4) - 1 for i in range(4)]
    if (_get(cfg, 'model.backbone.img_size') or _DEFAULT_IMG_SIZE) != int(arch['img_size']):
        wanted['model.backbone.img_size'] = int(arch['img_size'])
    wanted['model.decode_head.in_channels'] = [dims] * 4
    wanted['model.decode_head.channels'] = int(arch['decoder_channels'])
    wanted['model.decode_head.num_classes'] = int(arch['decode_head.num_classes'])
    if inlier == 'G':
        wanted['model.decode_head.gmm_cfg.num_components'] = int(
            arch['decode_head.num_components'])
        wanted['model.decode_head.gmm_cfg.memory_size'] = int(arch['decode_head.memory_size'])
    if uem:
        wanted['model.auxiliary_head.in_channels'] = dims
        wanted['model.auxiliary_head.mlp_channels'] = tuple(
            int(c) for c in arch['auxiliary_head.mlp_channels'])
        wanted['model.auxiliary_head.num_inlier_classes'] = int(
            arch['decode_head.num_classes'])
        if uem == 'G':
            wanted['model.auxiliary_head.gmm_cfg.num_components'] = int(
                arch['auxiliary_head.num_components'])
            wanted['model.auxiliary_head.gmm_cfg.memory_size'] = int(
                arch['auxiliary_head.memory_size'])
    for head in ('model.decode_head', 'model.auxiliary_head'):
        memory = wanted.get(f'{head}.gmm_cfg.memory_size')
        most = _get(cfg, f'{head}.gmm_cfg.max_sample_per_component') or _MAX_SAMPLES
        if memory is not None and most > memory:  # the classifier refuses more than memory
            wanted[f'{head}.gmm_cfg.max_sample_per_component'] = memory
    return {k: v for k, v in wanted.items() if not _same(_get(cfg, k), v)}


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(current, (list, tuple)) and isinstance(wanted, (list, tuple)):
        return list(current) == list(wanted)
    return current == wanted


def format_overrides(overrides: Mapping[str, Any]) -> str:
    """``key=value`` pairs as ``--cfg-options`` takes them (no spaces inside a value)."""
    def value(v: Any) -> str:
        if isinstance(v, dict):
            return 'dict(' + ','.join(f'{k}={value(x)}' for k, x in v.items()) + ')'
        if isinstance(v, str):
            return v
        return repr(v).replace(' ', '')

    return ' '.join(f'{k}={value(v)}' for k, v in overrides.items())


def write_delta_config(path: str, base_config: str, overrides: Mapping[str, Any], *,
                       checkpoint: str) -> str:
    """Write ``path``: a config inheriting ``base_config`` (by its path relative to
    ``path``) with ``overrides`` (dotted keys) as nested dicts; returns ``path``."""
    nested: Dict[str, Any] = {}
    for key, value in overrides.items():
        node = nested
        *parents, last = key.split('.')
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    base = osp.relpath(osp.abspath(base_config), osp.dirname(osp.abspath(path)))
    lines = [f'# The model of {osp.basename(base_config)} at the sizes of {checkpoint}',
             '# (written by tools/model_converters/uem_official2mmseg.py)',
             f'_base_ = [{base!r}]']
    for top, value in nested.items():
        lines.append(f'{top} = {pprint.pformat(value, indent=1, width=90, sort_dicts=False)}')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return path
