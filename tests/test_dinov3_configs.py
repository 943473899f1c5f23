"""The DINOv3 configs: the paper's variants on DINOv3 ViT-B/16 and ViT-L/16, in patch-16 sizes.

Read merged (no weights, no data); two models built at full width with 4 blocks to check the
wiring (backbone maps -> decoder, last map -> UEM) on a 64x128 input.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_uem  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
UEM = ROOT / 'configs' / 'uem'
SIZES = {'vitb16': (768, (2, 5, 8, 11)), 'vitl16': (1024, (4, 11, 17, 23))}
STAGE2 = {'gg': 'g', 'gd': 'g', 'dd': 'd'}
OOD_SETS = ('road-anomaly', 'fs-laf', 'smiyc-anomaly', 'smiyc-obstacle')
#: the other benchmark splits: their configs are the same model bases (tests/test_split_configs.py
#: checks each merged model against its base), so the wiring below is checked on OOD_SETS only
MORE_SPLITS = ('smiyc-obstacle-night', 'smiyc-obstacle-snowstorm', 'smiyc-obstacle-no-night',
               'laf', 'laf-no-known', 'cityscapes-inliers')
IMAGENET = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])


def names(test_sets=OOD_SETS) -> list:
    out = [f'dinov3_{a}_{v}_stage1_cityscapes' for a in SIZES for v in 'gd']
    out += [f'dinov3_{a}_{v}_cityscapes' for a in SIZES for v in STAGE2]
    out += [f'dinov3_{a}_{v}_test-{s}' for a in SIZES for v in STAGE2 for s in test_sets]
    return out


def test_the_variants_and_test_sets_exist():
    present = {p.stem for p in UEM.glob('dinov3_*.py')}
    every = set(names(OOD_SETS + MORE_SPLITS))
    assert every <= present
    assert present - every == {'dinov3_vitl16-sat493m_g_stage1_cityscapes',
                               'dinov3_vitl16-sat493m_gg_cityscapes'}


@pytest.mark.parametrize('name', names())
def test_backbone_sizes_and_wiring(name):
    cfg = Config.fromfile(str(UEM / f'{name}.py'))
    arch = name.split('_')[1]
    dims, _ = SIZES[arch]
    model = cfg.model
    assert model.backbone == dict(type='DINOv3', arch=arch, frozen=True, init_cfg=dict(
        type='Pretrained',
        checkpoint=f'checkpoints/dinov3_{arch}_pretrain_lvd1689m-'
                   f'{dict(vitb16="73cec8be", vitl16="8aa4cbdd")[arch]}.pth'))
    assert (model.data_preprocessor.mean, model.data_preprocessor.std) == IMAGENET
    assert model.data_preprocessor.size == (512, 1024)
    assert model.decode_head.in_channels == [dims] * 4
    assert model.test_cfg.mode == 'slide'
    assert model.test_cfg.crop_size == (512, 1024) and model.test_cfg.stride == (128, 128)
    sides = list(model.test_cfg.crop_size) + list(model.data_preprocessor.size)
    assert all(s % 16 == 0 for s in sides)
    variant = name.split('_')[2]
    if variant in STAGE2:
        assert model.stage == 2 and model.test_cfg.score == 'LLR'
        assert model.auxiliary_head.in_channels == dims  # the last block's map
        assert model.stage1_checkpoint == \
            f'work_dirs/dinov3_{arch}_{STAGE2[variant]}_stage1_cityscapes'
        assert model.auxiliary_head.classifier == ('gmm' if variant == 'gg' else 'linear')
    if 'train_dataloader' in cfg and cfg.train_dataloader is not None:
        pads = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'CenterPad']
        assert [t['size'] for t in pads] == [(512, 1024)]  # whole 16 px patches, no 518
    # every frame is read at its own size: Cityscapes' 1024x2048 is whole 16 px patches and
    # 5 x 9 windows of 512x1024 at stride 128 (no 1036x2058 pad of the 14 px models)
    for key in ('val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            assert not [t for t in cfg[key].dataset.pipeline if t['type'] == 'CenterPad'], key
    if cfg.get('test_pipeline'):
        assert not [t for t in cfg.test_pipeline if t['type'] == 'CenterPad']
    if name.endswith('_cityscapes') and variant in STAGE2:
        assert cfg.stage1_config == \
            f'configs/uem/dinov3_{arch}_{STAGE2[variant]}_stage1_cityscapes.py'


def test_sat493m_configs_use_their_normalisation_and_file():
    for name, stage1 in (('dinov3_vitl16-sat493m_g_stage1_cityscapes', None),
                         ('dinov3_vitl16-sat493m_gg_cityscapes',
                          'dinov3_vitl16-sat493m_g_stage1_cityscapes')):
        cfg = Config.fromfile(str(UEM / f'{name}.py'))
        pre = cfg.model.data_preprocessor
        # DINOv3 README: mean (0.430, 0.411, 0.296), std (0.213, 0.156, 0.143), on 0..255
        assert pre.mean == pytest.approx([109.65, 104.805, 75.48])
        assert pre.std == pytest.approx([54.315, 39.78, 36.465])
        assert cfg.model.backbone.init_cfg.checkpoint == \
            'checkpoints/dinov3_vitl16_pretrain_sat493m-eadcf0ff.pth'
        if stage1:
            assert cfg.model.stage1_checkpoint == f'work_dirs/{stage1}'
            assert cfg.stage1_config == f'configs/uem/{stage1}.py'


@pytest.mark.parametrize('arch, uem_params', [('vitb16', 788_228), ('vitl16', 919_300)])
def test_gg_model_wiring_at_full_width(arch, uem_params):
    """UEM parameters as the Table-1 ablation configs: D*512 + 512 + 512*512 + 512 + 512*256
    + 256 plus the GMM's LayerNorm(256) and 2-class LayerNorm."""
    cfg = Config.fromfile(str(UEM / f'dinov3_{arch}_gg_cityscapes.py'))
    init_default_scope(cfg.default_scope)
    cfg.model.backbone.update(init_cfg=None, arch=dict(embed_dims=SIZES[arch][0], num_layers=4,
                                                       num_heads=SIZES[arch][0] // 64),
                              out_indices=[0, 1, 2, 3])
    cfg.model.decode_head.gmm_cfg.memory_size = 100
    cfg.model.auxiliary_head.gmm_cfg.memory_size = 100
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert model.pad_stride == 16
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(n.startswith('auxiliary_head.') for n in trainable)
    assert sum(p.numel() for p in model.auxiliary_head.parameters()) == uem_params
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 64, 128))
    assert [tuple(f.shape) for f in feats] == [(1, SIZES[arch][0], 4, 8)] * 4


def test_default_blocks_are_metas():
    from mmseg_uem.models.backbones import DINOv3
    for arch, (_, blocks) in SIZES.items():
        with torch.device('meta'):
            assert DINOv3(arch).out_indices == blocks
