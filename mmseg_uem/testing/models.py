"""UEMEncoderDecoder configs of every variant at any size, built from the paper's model
configs: the one model factory of the tests, the benchmarks and the ONNX parity tool.

The settings come from ``configs/_base_/models/dinov2_{g,d,gg,gd,dd}.py`` (:data:`MODEL_CONFIGS`)
alone; :func:`shrink`, the one shrink delta (also of ``tests/test_configs.py``, which builds
every config), changes only what :data:`SHRINK_KEYS` lists (widths, depth, memory sizes, the
fixed input and test windows, no pretrained file), so a change to a config reaches every
test, benchmark and parity check, and a setting that differs from the configs fails
``tests/testing/test_models.py``.
"""
import copy
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config

from ..models.backbones import dinov2, dinov3
from ..models.backbones.dinov2 import DEFAULT_OUT_INDICES

#: the checkout's configs (the testing helpers run from a checkout, as the tests do)
CONFIG_ROOT = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                       'configs')
#: variant -> the paper's model config (DINOv2 ViT-B/14-reg)
MODEL_CONFIGS = {'G': '_base_/models/dinov2_g.py', 'D': '_base_/models/dinov2_d.py',
                 'G-G': '_base_/models/dinov2_gg.py', 'G-D': '_base_/models/dinov2_gd.py',
                 'D-D': '_base_/models/dinov2_dd.py'}
#: backbone type -> the model configs of each variant with that backbone
BACKBONE_CONFIGS = {
    'DINOv2': MODEL_CONFIGS,
    'DINOv3': {v: f'_base_/models/dinov3_vitb16_{v.replace("-", "").lower()}.py'
               for v in MODEL_CONFIGS},
}
#: how each of this project's ViT backbones fills in an arch (name or dict)
_RESOLVE_ARCH = {'DINOv2': dinov2.resolve_arch, 'DINOv3': dinov3.resolve_arch}
#: what :func:`shrink` may change (dotted paths into ``model``; ``*`` a head); a norm_cfg
#: only from SyncBN to BN
SHRINK_KEYS = (
    'backbone.arch', 'backbone.out_indices', 'backbone.init_cfg', 'backbone.num_layers',
    'backbone.depth', 'data_preprocessor.size', 'test_cfg', '*.in_channels', '*.channels',
    '*.num_classes', '*.num_inlier_classes', '*.final_mlp_channels', '*.mlp_channels',
    '*.norm_cfg.type', '*.gmm_cfg.memory_size', '*.gmm_cfg.max_sample_per_component')


def default_out_indices(num_layers: int) -> tuple:
    """The UEM blocks for ViT-B depth, else four evenly spaced blocks ending at the last."""
    if num_layers in DEFAULT_OUT_INDICES:
        return DEFAULT_OUT_INDICES[num_layers]
    return tuple(sorted({max(round(num_layers * (i + 1) / 4) - 1, 0) for i in range(4)}))


def paper_model_cfg(variant: str, backbone_type: str = 'DINOv2') -> dict:
    """``model`` of the variant's config (:data:`BACKBONE_CONFIGS`), as a plain dict."""
    if variant not in MODEL_CONFIGS or backbone_type not in BACKBONE_CONFIGS:
        raise ValueError(f'variant must be one of {list(MODEL_CONFIGS)} and backbone_type one '
                         f'of {list(BACKBONE_CONFIGS)}, got {variant!r}, {backbone_type!r}')
    path = osp.join(CONFIG_ROOT, BACKBONE_CONFIGS[backbone_type][variant])
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} not found: the testing helpers build models from the '
                                "checkout's configs/")
    return Config.fromfile(path).model.to_dict()


def segmentor_cfg(variant: str, *, arch, out_indices: Optional[Sequence[int]],
                  channels: int = 256,
                  num_classes: int = 19, memory_size: int = 8000,
                  mlp_channels: Sequence[int] = (512, 512, 256),
                  test_cfg: Optional[dict] = None, final_mlp_channels: Optional[int] = -1,
                  norm_cfg: Optional[dict] = None, gmm_cfg: Optional[dict] = None,
                  alpha: Optional[float] = None, backbone: Optional[dict] = None,
                  backbone_type: str = 'DINOv2', **model) -> dict:
    """The paper's config of ``variant`` ('G' / 'D' stage 1, 'G-G' / 'G-D' / 'D-D' stage 2)
    at the sizes given (:func:`shrink`), plus what a test sets on purpose.

    Args:
        arch, out_indices, channels, num_classes, memory_size, mlp_channels, test_cfg,
            final_mlp_channels: the sizes, see :func:`shrink` (``out_indices`` None: the
            config's, else the backbone's default).
        norm_cfg: of the pixel decoder; None: the config's (SyncBN as BatchNorm).
        gmm_cfg: replaces both GMM classifiers' settings (a test of the GMM itself).
        alpha: UEMHead's CE weight; None: the config's.
        backbone: more backbone arguments (e.g. DINOv2's ``img_size``).
        backbone_type: 'DINOv2' or 'DINOv3' (the ``dinov3_vitb16_*`` configs; ``arch`` is
            that backbone's).
        model: more UEMEncoderDecoder arguments (``data_preprocessor``, ``train_cfg``...).
    """
    cfg = shrink(paper_model_cfg(variant, backbone_type), arch=arch, out_indices=out_indices,
                 channels=channels, num_classes=num_classes, memory_size=memory_size,
                 mlp_channels=mlp_channels, test_cfg=test_cfg,
                 final_mlp_channels=final_mlp_channels)
    cfg.pop('stage1_checkpoint', None)
    cfg['backbone'].update(backbone or {})
    if norm_cfg is not None:
        cfg['decode_head']['norm_cfg'] = norm_cfg
    uem = cfg.get('auxiliary_head')
    if uem is not None and alpha is not None:
        uem['alpha'] = alpha
    if gmm_cfg is not None:
        for head in _gmm_heads(cfg):
            head['gmm_cfg'] = dict(gmm_cfg)
    cfg.update(model)
    return cfg


def shrink(model: dict, *, arch=None, out_indices: Optional[Sequence[int]] = None,
           channels: Optional[int] = None, num_classes: Optional[int] = None,
           memory_size: int = 100, mlp_channels: Optional[Sequence[int]] = None,
           test_cfg: Optional[dict] = None, final_mlp_channels: Optional[int] = -1) -> dict:
    """A copy of a config's ``model`` that builds and runs quickly, with the same modules and
    wiring: the one shrink delta (what it may change: :data:`SHRINK_KEYS`).

    - backbone: no pretrained file; DINOv2 / DINOv3 ``arch`` / ``out_indices`` as given, else
      the config's arch with 4 blocks; MiT one block per stage, ResNet-101 a ResNet-50 (same
      stage widths);
    - inputs: no fixed preprocessor ``size`` and whole-image inference (``test_cfg``), as the
      configs' are ViT-B's 518 x 1036 windows;
    - widths as given: ``channels`` (and ``final_mlp_channels``, -1: min(512, 2 *
      channels)) of the decode head, ``num_classes``, the UEM's ``mlp_channels``; every
      head's ``in_channels`` follow the backbone's width (DINOv2);
    - every GMM memory ``memory_size`` slots (``max_sample_per_component`` capped to it);
    - SyncBN as BatchNorm, as mmengine builds it outside a distributed run.
    """
    cfg = copy.deepcopy(model)
    backbone = cfg['backbone']
    if 'init_cfg' in backbone:
        backbone['init_cfg'] = None
    embed_dims = None
    resolve_arch = _RESOLVE_ARCH.get(backbone.get('type'))
    if resolve_arch is not None:
        if arch is None and isinstance(backbone['arch'], str):
            full = resolve_arch(backbone['arch'])
            if backbone['type'] == 'DINOv2':  # as before: width, heads and registers kept
                arch = dict(embed_dims=full['embed_dims'], num_layers=4,
                            num_heads=full['embed_dims'] // 64,
                            num_register_tokens=full.get('num_register_tokens', 0))
            else:
                arch = dict(full, num_layers=4)
            out_indices = out_indices or (0, 1, 2, 3)
        if arch is not None:
            backbone['arch'] = arch
        if out_indices is not None:
            backbone['out_indices'] = tuple(out_indices)
        embed_dims = resolve_arch(backbone['arch'])['embed_dims']
    elif backbone.get('type') == 'MixVisionTransformer':  # same widths, one block per stage
        backbone['num_layers'] = [1] * len(backbone['num_layers'])
    elif backbone.get('type', '').startswith('ResNet') and backbone.get('depth', 0) > 50:
        backbone['depth'] = 50  # same stage widths (Bottleneck), fewer blocks
    if isinstance(cfg.get('data_preprocessor'), dict):
        cfg['data_preprocessor'].pop('size', None)
    if cfg.get('type') == 'UEMEncoderDecoder':
        score = (cfg.get('test_cfg') or {}).get('score')
        cfg['test_cfg'] = copy.deepcopy(test_cfg) if test_cfg is not None else dict(
            mode='whole', **(dict(score=score) if score else {}))
    head, uem = cfg['decode_head'], cfg.get('auxiliary_head')
    if embed_dims is not None and head.get('type') in ('GMMHead', 'LinearDecoderHead'):
        head['in_channels'] = [embed_dims] * len(head['in_channels'])
    if channels is not None:
        head['channels'] = channels
        head['final_mlp_channels'] = min(512, 2 * channels) if final_mlp_channels == -1 \
            else final_mlp_channels
    if num_classes is not None:
        head['num_classes'] = num_classes
    if head.get('norm_cfg', {}).get('type') == 'SyncBN':
        head['norm_cfg'] = dict(head['norm_cfg'], type='BN')
    if isinstance(uem, dict) and uem.get('type') == 'UEMHead':
        if embed_dims is not None:
            uem['in_channels'] = embed_dims
        if mlp_channels is not None:
            uem['mlp_channels'] = tuple(mlp_channels)
        if num_classes is not None:
            uem['num_inlier_classes'] = num_classes
    for part in _gmm_heads(cfg):
        part['gmm_cfg'] = dict(part.get('gmm_cfg') or {}, memory_size=memory_size)
        if part['gmm_cfg'].get('max_sample_per_component', 20) > memory_size:
            part['gmm_cfg']['max_sample_per_component'] = memory_size
    return cfg


def _gmm_heads(cfg: dict) -> list:
    """The heads of ``cfg`` holding a GMM classifier (a GMM inlier head, a GMM UEM)."""
    heads = [cfg['decode_head'], cfg.get('auxiliary_head')]
    return [h for h in heads if isinstance(h, dict) and (
        h.get('gmm_cfg') is not None or h.get('type') == 'GMMHead'
        or h.get('classifier') == 'gmm')]
