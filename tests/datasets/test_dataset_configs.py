"""The base dataset configs build and run on the generated tree (data_root swapped)."""
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

from mmseg_uem.datasets import build_outlier_bank
from mmseg_uem.testing import make_dataset_tree

CONFIGS = osp.join(osp.dirname(__file__), '..', '..', 'configs', '_base_', 'datasets')
OOD = {'road_anomaly': 'RoadAnomaly_jpg', 'fs_laf': 'fishyscapes',
       'smiyc_anomaly': 'dataset_AnomalyTrack', 'smiyc_obstacle': 'dataset_ObstacleTrack'}


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('data'))
    make_dataset_tree(out, size=(32, 64), num_train=2, num_val=1, num_coco=8,
                      coco_min_side=24, num_road_anomaly=1, num_laf=2, num_smiyc_anomaly=1,
                      num_smiyc_obstacle=1, num_smiyc_test=1)
    build_outlier_bank(osp.join(out, 'coco'), min_size=24, progress=False)
    init_default_scope('mmseg')
    return out


@pytest.mark.parametrize('name', sorted(OOD))
def test_ood_config(data, name):
    cfg = Config.fromfile(osp.join(CONFIGS, f'{name}.py'))
    # obstacle track: SMIYC's smaller component-size thresholds
    sizes = dict(min_pred_size=50, min_gt_size=10) if name == 'smiyc_obstacle' else {}
    assert cfg.val_evaluator == dict(type='OoDMetric', ood_metrics=['AP', 'FPR95', 'AUROC'],
                                     **sizes)
    assert cfg.test_dataloader == cfg.val_dataloader
    dataset_cfg = cfg.test_dataloader.dataset
    assert dataset_cfg.data_root == f'data/{OOD[name]}/'
    dataset_cfg.data_root = osp.join(data, OOD[name])
    dataset = DATASETS.build(dataset_cfg)
    sample = dataset[0]
    gt = sample['data_samples'].gt_sem_seg.data
    assert set(np.unique(gt.numpy())) <= {0, 1, 255}
    assert tuple(gt.shape[1:]) == sample['data_samples'].ori_shape  # labels stay full size
    # native resolution, as the official evaluation: no resizing
    assert tuple(sample['inputs'].shape[1:]) == sample['data_samples'].ori_shape


def test_cityscapes_anomalymix_config(data):
    cfg = Config.fromfile(osp.join(CONFIGS, 'cityscapes_anomalymix.py'))
    types = [t['type'] for t in cfg.train_pipeline]
    assert types == ['LoadImageFromFile', 'LoadAnnotations', 'AnomalyMix', 'RandomResize',
                     'RandomCrop', 'CenterPad', 'RandomFlip', 'ColorJitter', 'PackSegInputs']
    assert cfg.train_pipeline[4] == dict(type='RandomCrop', crop_size=(512, 1024))  # plain
    assert cfg.train_pipeline[5].size == (518, 1036)
    dataset_cfg = cfg.train_dataloader.dataset
    dataset_cfg.data_root = osp.join(data, 'cityscapes')
    mix = dataset_cfg.pipeline[2]
    assert (mix.prob, mix.bank_root) == (0.2, 'data/coco/')
    mix.bank_root, mix.prob = osp.join(data, 'coco'), 1.0
    dataset_cfg.pipeline[3].scale = (128, 64)  # keep the test small: crop 32x64 from it
    dataset_cfg.pipeline[4].crop_size = (32, 64)
    dataset_cfg.pipeline[5].size = (42, 70)  # 5 px top and bottom, 3 px left and right
    dataset = DATASETS.build(dataset_cfg)
    assert len(dataset) == 2
    sample = dataset[0]
    assert tuple(sample['inputs'].shape) == (3, 42, 70)
    label = sample['data_samples'].gt_sem_seg.data.numpy()[0]
    assert set(np.unique(label)) <= set(range(19)) | {254, 255}
    border = np.ones_like(label, bool)
    border[5:37, 3:67] = False
    assert (label[border] == 255).all()


def test_configs_combine_as_bases(tmp_path):
    combined = tmp_path / 'combined.py'
    combined.write_text(f"_base_ = ['{CONFIGS}/cityscapes_anomalymix.py', "
                        f"'{CONFIGS}/road_anomaly.py']\n")
    cfg = Config.fromfile(str(combined))
    assert cfg.train_dataloader.dataset.type == 'CityscapesDataset'
    assert cfg.test_dataloader.dataset.type == 'RoadAnomalyDataset'


def test_cityscapes_val_is_padded_centred_and_the_label_kept(data):
    cfg = Config.fromfile(osp.join(CONFIGS, 'cityscapes.py'))
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.data_root = osp.join(data, 'cityscapes')
    assert dataset_cfg.pipeline[1] == dict(type='CenterPad', size=(1036, 2058), pad_val=0,
                                           pad_seg=False)
    dataset_cfg.pipeline[1].size = (38, 71)  # the generated 32x64 frames: 3 / 3 and 3 / 4 px
    sample = DATASETS.build(dataset_cfg)[0]
    assert tuple(sample['inputs'].shape) == (3, 38, 71)
    meta = sample['data_samples'].metainfo
    assert meta['img_padding_size'] == [3, 4, 3, 3] and meta['ori_shape'] == (32, 64)
    assert tuple(sample['data_samples'].gt_sem_seg.data.shape) == (1, 32, 64)
    assert (sample['inputs'][:, :3] == 0).all() and (sample['inputs'][:, :, -4:] == 0).all()
