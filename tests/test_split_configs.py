"""Every UEM variant has a test config for every benchmark split, and each one is its model
base + the split's dataset base: the merged config reads the split its name says.

Merged configs only (no weights, no data); the datasets they select are checked on miniature
trees in tests/datasets/test_benchmark_splits.py.
"""
from functools import cache
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
UEM = ROOT / 'configs' / 'uem'
BASES = ROOT / 'configs' / '_base_'

#: test split (`<variant>_test-<split>.py`) -> its dataset base and what its test set must be
SPLITS = {
    'road-anomaly': ('road_anomaly', dict(type='RoadAnomalyDataset')),
    'fs-laf': ('fs_laf', dict(type='FishyscapesLaFDataset')),
    'smiyc-anomaly': ('smiyc_anomaly', dict(type='SMIYCDataset', track='anomaly',
                                            split='validation')),
    'smiyc-obstacle': ('smiyc_obstacle', dict(type='SMIYCDataset', track='obstacle',
                                              split='validation')),
    'smiyc-obstacle-night': ('smiyc_obstacle_night', dict(type='SMIYCDataset', track='obstacle',
                                                          split='night')),
    'smiyc-obstacle-snowstorm': ('smiyc_obstacle_snowstorm', dict(
        type='SMIYCDataset', track='obstacle', split='snowstorm')),
    'smiyc-obstacle-no-night': ('smiyc_obstacle_no_night', dict(
        type='SMIYCDataset', track='obstacle', split='noNight')),
    'laf': ('lost_and_found', dict(type='LostAndFoundDataset', split='test', subset='all')),
    'laf-no-known': ('lost_and_found_no_known', dict(type='LostAndFoundDataset', split='test',
                                                     subset='noKnown')),
    'cityscapes-inliers': ('cityscapes_inliers', dict(
        type='CityscapesDataset', data_root='data/cityscapes/',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'))),
}
#: dataset bases that are not test splits: training sets and the demo's
NOT_SPLITS = {'cityscapes', 'cityscapes_patch16', 'cityscapes_anomalymix',
              'cityscapes_anomalymix_patch16', 'demo_cityscapes_val'}
#: splits whose frames a patch-16 backbone reads from a `<base>_patch16` variant
PATCH16 = {'cityscapes-inliers'}
#: baselines and single-stage ablations, tested on fewer sets ('cityscapes': mIoU)
PARTIAL = {
    'dinov2_g_stage1': {'road-anomaly'},
    'dinov2_d_stage1': {'road-anomaly'},
    'dinov2_d_pebal': {'road-anomaly', 'fs-laf', 'cityscapes'},
    'dinov2_d_rba': {'road-anomaly', 'fs-laf', 'cityscapes'},
    'segformer_mit-b5_dd': {'road-anomaly', 'fs-laf'},
    'deeplabv3plus_r101-d8_dd': {'road-anomaly', 'fs-laf'},
}
CITYSCAPES_INLIERS = dict(type='LoadOoDAnnotations', raw_values=tuple(range(19)) + (255, ),
                          label_map={i: 0 for i in range(1, 19)})


def variants() -> list:
    return sorted(p.stem.split('_test-')[0] for p in UEM.glob('*_test-road-anomaly.py'))


def splits_of(variant: str) -> set:
    """The splits of a variant's test configs (`_test-road-anomaly_score-id` is a score
    ablation on a split, not a split)."""
    names = (p.stem.split('_test-', 1)[1] for p in UEM.glob(f'{variant}_test-*.py'))
    return {n for n in names if '_' not in n}


FULL = [v for v in variants() if v not in PARTIAL]


@cache
def _base(kind: str, name: str) -> Config:
    return Config.fromfile(str(BASES / kind / f'{name}.py'))


def test_every_split_has_its_dataset_base():
    bases = {p.stem for p in (BASES / 'datasets').glob('*.py')} - NOT_SPLITS
    expected = {base for base, _ in SPLITS.values()}
    expected |= {f'{SPLITS[s][0]}_patch16' for s in PATCH16}
    assert bases == expected


def test_every_variant_is_tested_on_every_split():
    assert set(FULL) == {f'{m}_{v}' for m in ('dinov2', 'dinov3_vitb16', 'dinov3_vitl16')
                         for v in ('gg', 'gd', 'dd')}
    for variant in variants():
        assert splits_of(variant) == PARTIAL.get(variant, set(SPLITS)), variant


@pytest.mark.parametrize('variant', FULL)
def test_split_configs_are_the_model_and_the_split(variant):
    model = _base('models', variant).model
    patch = 14 if model.backbone.type == 'DINOv2' else 16
    for split, (base, dataset) in SPLITS.items():
        name = f'{variant}_test-{split}'
        cfg = Config.fromfile(str(UEM / f'{name}.py'))
        assert cfg.model == model, name
        if split in PATCH16 and patch == 16:
            base += '_patch16'
        data = _base('datasets', base)
        for key in ('test_dataloader', 'test_evaluator', 'test_pipeline', 'tta_pipeline'):
            assert cfg[key] == data[key], (name, key)
        assert cfg.val_dataloader == cfg.test_dataloader, name
        assert cfg.test_cfg == dict(type='TestLoop'), name
        got = cfg.test_dataloader.dataset
        assert {k: got.get(k) for k in dataset} == dataset, name
        if split != 'cityscapes-inliers':
            assert cfg.test_evaluator.ood_metrics == ['AP', 'FPR95', 'AUROC'], name
            continue
        # false alarms on Cityscapes val: every trainId an inlier, 255 void, FA-img
        assert cfg.test_evaluator == dict(type='OoDMetric', ood_metrics=['FA-img']), name
        assert CITYSCAPES_INLIERS in got.pipeline, name
        tta = [t for t in cfg.tta_pipeline if t['type'] == 'TestTimeAug']
        assert [CITYSCAPES_INLIERS] in tta[0]['transforms'], name
        # the frame the windows slide over is whole patches; padded only when 1024x2048 is not
        pads = [t['size'] for t in got.pipeline if t['type'] == 'CenterPad']
        if 1024 % patch == 0 and 2048 % patch == 0:
            assert pads == [], name
        else:
            assert pads == [(1036, 2058)] and 1036 % patch == 0 and 2058 % patch == 0, name
