"""The Swin-B / CLIP ViT-B/16 ablation configs (paper Table 1) wire backbone and heads.

Full-size backbones without weights, on a 64x128 input (a few seconds on CPU); GMM memories
shrunk to 100 entries so that no ~778 MB buffer is allocated.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_uem  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]

# (config, decoder pyramid, backbone map channels, UEM parameters): the UEM is the MLP
# D -> 512 -> 512 -> 256 (D*512 + 512 + 512*512 + 512 + 512*256 + 256) plus the GMM's
# LayerNorm(256) and 2-class LayerNorm: D = 1024 gives 919,300, D = 768 gives 788,228
CASES = [
    ('swinb_gg_cityscapes', 'none', [128, 256, 512, 1024], 919_300),
    ('clip_vitb16_gg_cityscapes', 'simple', [768] * 4, 788_228),
]


@pytest.mark.parametrize('name,pyramid,channels,uem_params', CASES, ids=[c[0] for c in CASES])
def test_ablation_config_wiring(name, pyramid, channels, uem_params):
    cfg = Config.fromfile(str(ROOT / 'configs' / 'uem' / f'{name}.py'))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.init_cfg = None  # no weights here
    cfg.model.decode_head.gmm_cfg.memory_size = 100
    cfg.model.auxiliary_head.gmm_cfg.memory_size = 100
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.backbone.__class__.__name__ == 'FrozenBackbone'
    assert model.decode_head.decoder.pyramid == pyramid
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith('auxiliary_head.') for n in trainable)
    assert sum(p.numel() for p in model.auxiliary_head.parameters()) == uem_params
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 128))
    assert [f.shape[1] for f in feats] == channels == list(model.decode_head.in_channels)
    assert model.auxiliary_head.in_channels == channels[-1]  # UEM on the last map
    crop = cfg.model.test_cfg.crop_size
    assert all(c % 32 == 0 for c in crop + cfg.model.data_preprocessor.size)
