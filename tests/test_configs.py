"""Every config in configs/ builds: model, datasets and evaluators (no weights, no data).

The most common plugin bug is a module missing from the registry; this catches it and
any broken `_base_` chain.
"""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS, METRICS, MODELS, TRANSFORMS

import mmseg_uem  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)


def _shrink(cfg: Config) -> None:
    """Keep the config's modules, widths and wiring, but make the model quick to build:
    ViT-B/L/g archs (DINOv2, DINOv3) become a 4-block ViT of the same width, MiT one block
    per stage, ResNet-101 a ResNet-50, GMM memories 100 entries."""
    backbone = cfg.model.backbone
    if backbone.get('type') == 'DINOv2':
        backbone.init_cfg = None
        if isinstance(backbone.arch, str):
            width = {'vits14': 384, 'vitb14': 768, 'vitl14': 1024, 'vitg14': 1536}
            dims = width[backbone.arch.replace('_reg', '')]
            backbone.arch = dict(embed_dims=dims, num_layers=4, num_heads=dims // 64,
                                 num_register_tokens=4 if backbone.arch.endswith('_reg') else 0)
            backbone.out_indices = [0, 1, 2, 3]
    elif backbone.get('type') == 'DINOv3':
        from mmseg_uem.models.backbones.dinov3 import resolve_arch
        backbone.init_cfg = None
        arch = resolve_arch(backbone.arch)
        backbone.arch = dict(arch, num_layers=4)
        backbone.out_indices = [0, 1, 2, 3]
    elif 'init_cfg' in backbone:
        backbone.init_cfg = None
    if backbone.get('type') == 'MixVisionTransformer':  # same widths, one block per stage
        backbone.num_layers = [1] * len(backbone.num_layers)
    if backbone.get('type', '').startswith('ResNet') and backbone.get('depth', 0) > 50:
        backbone.depth = 50  # same stage widths (Bottleneck), fewer blocks
    for head in (cfg.model.decode_head, cfg.model.get('auxiliary_head') or {}):
        if head.get('gmm_cfg') is not None:
            head.gmm_cfg.memory_size = 100


def _pipelines(dataloader_cfg) -> list:
    dataset = dataloader_cfg['dataset']
    return dataset.get('pipeline', [])


def _build_transform(t: dict) -> None:
    if t['type'] == 'TestTimeAug':
        for group in t['transforms']:
            for sub in group:
                _build_transform(sub)
        return
    t = dict(t)
    if t['type'] == 'AnomalyMix':
        return  # needs a bank on disk; its own tests build it on generated data
    TRANSFORMS.build(t)


@pytest.mark.parametrize('path', CONFIGS, ids=[str(p.relative_to(ROOT)) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(str(path))
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    assert 'mmseg_uem' in cfg.custom_imports['imports']
    _shrink(cfg)
    model = MODELS.build(cfg.model)
    assert model is not None
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:  # test-only configs set train_dataloader = None
            dataset = cfg[key]['dataset']
            assert DATASETS.get(dataset['type']) is not None, dataset['type']
            for t in _pipelines(cfg[key]):
                _build_transform(t)
    for key in ('val_evaluator', 'test_evaluator'):
        if key in cfg:
            evaluators = cfg[key] if isinstance(cfg[key], list) else [cfg[key]]
            for e in evaluators:
                METRICS.build(e)


def test_gmm_settings_per_variant_live_in_the_configs():
    """One way to configure a GMM classifier (``gmm_cfg`` in both heads); the official
    values per variant: EM every 5 steps in the stage-1 G head, every 3 in the G-G UEM."""
    for name in ('dinov2_gg', 'swinb_gg', 'clip_vitb16_gg'):
        cfg = Config.fromfile(str(ROOT / 'configs' / '_base_' / 'models' / f'{name}.py'))
        assert cfg.model.decode_head.gmm_cfg.update_interval == 5, name
        assert cfg.model.decode_head.gmm_cfg.memory_size == 8000, name
        assert cfg.model.auxiliary_head.gmm_cfg.update_interval == 3, name
        assert cfg.model.auxiliary_head.gmm_cfg.num_components == 5, name


def test_ood_test_configs_have_inference_and_tta_pipelines():
    """mmseg's inference_model runs `test_pipeline`, tools/test.py --tta `tta_pipeline`:
    every config tested with OoDMetric has both, and the TTA views build."""
    from mmcv.transforms import Compose

    ood = 0
    for path in CONFIGS:
        cfg = Config.fromfile(str(path))
        evaluator = cfg.get('test_evaluator', {})
        if not isinstance(evaluator, dict) or evaluator.get('type') != 'OoDMetric':
            continue
        ood += 1
        init_default_scope('mmseg')
        assert cfg.test_pipeline == cfg.test_dataloader.dataset.pipeline, path
        assert 'tta_model' in cfg and 'tta_pipeline' in cfg, path
        (tta, ) = [t for t in cfg.tta_pipeline if t['type'] == 'TestTimeAug']
        assert [t['type'] for group in tta['transforms'] for t in group].count(
            'LoadOoDAnnotations') == 1, path
        Compose(cfg.tta_pipeline)
    assert ood >= 18  # 17 OoD test configs and the demo's stage 2
