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
from mmseg_uem.testing.models import shrink

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (ROOT / 'configs').rglob('*.py') if '_base_' not in p.parts)


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
    # the one shrink delta of the tests: same modules and wiring, quick to build
    cfg.model = shrink(cfg.model.to_dict())
    model = MODELS.build(cfg.model)
    # the registry built what the config names, with its heads and classes
    assert type(model) is MODELS.get(cfg.model.type), (type(model), cfg.model.type)
    for name in ('backbone', 'decode_head', 'auxiliary_head', 'neck'):
        part = cfg.model.get(name)
        if isinstance(part, dict):
            assert type(getattr(model, name)) is MODELS.get(part['type']), name
        elif isinstance(part, (list, tuple)):  # mmseg's several auxiliary heads
            assert [type(m) for m in getattr(model, name)] == [
                MODELS.get(p['type']) for p in part], name
        else:
            assert getattr(model, f'with_{name}', False) is False, name
    assert model.decode_head.num_classes == cfg.model.decode_head.num_classes
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
    assert ood >= 18  # the OoD test configs, the demo's stage 2 and its false-alarm test
