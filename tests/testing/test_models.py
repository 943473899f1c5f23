"""The model factory of the tests, benchmarks and the parity tool: the paper's configs plus
one shrink delta, and nothing else."""
import fnmatch

import pytest

from mmseg_uem.testing import models
from mmseg_uem.testing.models import (
    BACKBONE_CONFIGS,
    MODEL_CONFIGS,
    SHRINK_KEYS,
    default_out_indices,
    paper_model_cfg,
    segmentor_cfg,
)

TINY = dict(arch=dict(embed_dims=32, num_layers=4, num_heads=2), out_indices=(0, 1, 2, 3),
            channels=16, num_classes=3, memory_size=12, mlp_channels=(16, 8))


def test_default_out_indices():
    assert default_out_indices(12) == (1, 4, 8, 11)
    assert default_out_indices(4) == (0, 1, 2, 3)
    assert default_out_indices(8) == (1, 3, 5, 7)


def _differences(a, b, path=''):
    """Dotted paths where the nested dicts ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b), key=str)
                for d in _differences(a.get(k), b.get(k), f'{path}.{k}' if path else str(k))]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = list(a), list(b)
    return [] if a == b else [path]


def _allowed(path: str) -> bool:
    head = path.replace('decode_head.', '*.', 1).replace('auxiliary_head.', '*.', 1)
    return any(fnmatch.fnmatchcase(p, key) or p.startswith(key + '.')
               for p in (path, head) for key in SHRINK_KEYS)


@pytest.mark.parametrize('backbone_type', list(BACKBONE_CONFIGS))
@pytest.mark.parametrize('variant', list(MODEL_CONFIGS))
def test_what_the_tests_build_is_the_config_shrunk(variant, backbone_type):
    """Every setting of the paper's config but the shrink delta's reaches the tests' model,
    and the paper's sizes give back the config's model (up to the pretrained file, the
    stage-1 work dir and the fixed windows)."""
    paper = paper_model_cfg(variant, backbone_type)
    tiny = segmentor_cfg(variant, **TINY, backbone_type=backbone_type)
    assert [p for p in _differences(paper, tiny) if not _allowed(p)] == [
        'stage1_checkpoint'] * ('-' in variant)
    for head in ('decode_head', 'auxiliary_head'):
        if (paper.get(head) or {}).get('norm_cfg'):
            assert paper[head]['norm_cfg']['type'] == 'SyncBN'
            assert tiny[head]['norm_cfg']['type'] == 'BN'
    full = segmentor_cfg(variant, arch=paper['backbone']['arch'],
                         out_indices=paper['backbone'].get('out_indices'), final_mlp_channels=512,
                         backbone_type=backbone_type)
    # explicit where the config leaves a value to the module's default: 512 and 8000 are
    # UEMPixelDecoder's and GMMClassifier's defaults
    assert sorted(_differences(paper, full)) == sorted(
        ['backbone.init_cfg', 'data_preprocessor.size', 'decode_head.norm_cfg.type',
         'decode_head.final_mlp_channels', 'test_cfg.crop_size', 'test_cfg.mode',
         'test_cfg.stride', 'test_cfg.batch_windows']
        + ['stage1_checkpoint'] * ('-' in variant)
        + ['auxiliary_head.gmm_cfg.memory_size'] * (variant == 'G-G')), variant


def test_a_config_change_reaches_the_tests(tmp_path, monkeypatch):
    """The factory reads the configs: edit one, and what the tests build follows."""
    (tmp_path / '_base_' / 'models').mkdir(parents=True)
    for name in ('dinov2_g.py', 'dinov2_gd.py'):
        text = (models.osp.join(models.CONFIG_ROOT, '_base_', 'models', name))
        text = open(text).read()
        if name == 'dinov2_g.py':
            assert 'contrast_weight=0.01,' in text
            text = text.replace('contrast_weight=0.01,', 'contrast_weight=0.25,')
        (tmp_path / '_base_' / 'models' / name).write_text(text)
    monkeypatch.setattr(models, 'CONFIG_ROOT', str(tmp_path))
    assert segmentor_cfg('G-D', **TINY)['decode_head']['contrast_weight'] == 0.25
    with pytest.raises(FileNotFoundError, match='dinov2_gg.py not found'):
        segmentor_cfg('G-G', **TINY)
