"""RoadAnomalyDataset on a generated RoadAnomaly_jpg tree."""
import json
import os
import os.path as osp

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import PackSegInputs
from PIL import Image

from mmseg_uem.datasets import LoadOoDAnnotations, RoadAnomalyDataset
from mmseg_uem.testing import make_road_anomaly


def _pipeline():
    return [LoadImageFromFile(), LoadOoDAnnotations(), PackSegInputs()]


@pytest.fixture
def root(tmp_path):
    make_road_anomaly(str(tmp_path), num_frames=3, size=(48, 96), seed=0)
    return str(tmp_path)


def test_loads_pairs_and_maps_two_to_one(root):
    dataset = RoadAnomalyDataset(data_root=root, pipeline=_pipeline())
    assert len(dataset) == 3 and dataset.metainfo['classes'] == ('inlier', 'anomaly')
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        stem = osp.splitext(osp.basename(info['img_path']))[0]
        assert info['seg_map_path'].endswith(osp.join(f'{stem}.labels', 'labels_semantic.png'))
        sample = dataset[i]['data_samples']
        gt = sample.gt_sem_seg.data.numpy()[0]
        raw = np.asarray(Image.open(info['seg_map_path']))
        np.testing.assert_array_equal(gt, (raw == 2).astype(np.uint8))
        assert set(np.unique(gt)) == {0, 1} and gt.shape == sample.ori_shape


def test_missing_label_or_image_is_named(root):
    label = osp.join(root, 'frames', 'anomaly01_street.labels', 'labels_semantic.png')
    os.remove(label)
    with pytest.raises(FileNotFoundError, match='anomaly01_street.labels'):
        RoadAnomalyDataset(data_root=root)
    with open(osp.join(root, 'frame_list.json'), 'w') as f:
        json.dump(['anomaly00_street.jpg', 'ghost.jpg'], f)
    with pytest.raises(FileNotFoundError, match=r'image .*ghost\.jpg is missing'):
        RoadAnomalyDataset(data_root=root)
    os.remove(osp.join(root, 'frame_list.json'))
    with pytest.raises(FileNotFoundError, match='frame_list.json'):
        RoadAnomalyDataset(data_root=root)


def test_bad_labels_fail_in_the_pipeline(root):
    label = osp.join(root, 'frames', 'anomaly00_street.labels', 'labels_semantic.png')
    Image.fromarray(np.ones((48, 96), np.uint8)).save(label)  # value 1 is not a raw value
    dataset = RoadAnomalyDataset(data_root=root, pipeline=_pipeline())
    with pytest.raises(ValueError, match=r'anomaly00_street.labels.*values \[1\]'):
        dataset[0]
    Image.fromarray(np.zeros((47, 96), np.uint8)).save(label)
    with pytest.raises(ValueError, match=r'is 47x96 but image .*anomaly00_street.jpg is 48x96'):
        dataset[0]


def test_empty_folder_is_named(tmp_path):
    os.makedirs(tmp_path / 'frames')
    with pytest.raises(FileNotFoundError, match=rf'in folder {tmp_path}/frames'):
        RoadAnomalyDataset(data_root=str(tmp_path))
