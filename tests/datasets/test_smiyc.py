"""SMIYCDataset (anomaly and obstacle tracks) on generated SMIYC trees."""
import os
import os.path as osp

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import PackSegInputs

from mmseg_uem.datasets import LoadOoDAnnotations, SMIYCDataset
from mmseg_uem.testing import make_smiyc_anomaly, make_smiyc_obstacle


def _pipeline():
    return [LoadImageFromFile(), LoadOoDAnnotations(), PackSegInputs()]


@pytest.fixture
def roots(tmp_path):
    anomaly, obstacle = str(tmp_path / 'at'), str(tmp_path / 'ot')
    make_smiyc_anomaly(anomaly, num_val=3, num_test=2, size=(48, 96), seed=0)
    make_smiyc_obstacle(obstacle, num_val=3, num_test=2, size=(48, 96), seed=0)
    return anomaly, obstacle


@pytest.mark.parametrize('track', ['anomaly', 'obstacle'])
def test_validation_frames_only(roots, track):
    root = roots[track == 'obstacle']
    dataset = SMIYCDataset(track=track, data_root=root, pipeline=_pipeline())
    assert len(dataset) == 3
    values = set()
    for i in range(3):
        info = dataset.get_data_info(i)
        stem = osp.splitext(osp.basename(info['img_path']))[0]
        assert stem.startswith('validation')
        assert osp.basename(info['seg_map_path']) == f'{stem}_labels_semantic.png'
        sample = dataset[i]['data_samples']
        gt = sample.gt_sem_seg.data.numpy()[0]
        assert gt.shape == sample.ori_shape
        values |= set(np.unique(gt).tolist())
    assert values == {0, 1, 255}


def test_hidden_files_are_skipped(roots):
    """A folder copied from a Mac holds ``._<name>`` resource files beside the images."""
    images = osp.join(roots[0], 'images')
    for name in sorted(os.listdir(images)):
        with open(osp.join(images, '._' + name), 'wb') as f:
            f.write(b'\x00\x05\x16\x07')  # AppleDouble magic, not an image
    dataset = SMIYCDataset(track='anomaly', data_root=roots[0], pipeline=_pipeline())
    assert len(dataset) == 3
    assert all(not osp.basename(dataset.get_data_info(i)['img_path']).startswith('.')
               for i in range(3))
    # '._validation0000.jpg' does not start with 'validation': it would join the test split
    test = SMIYCDataset(track='anomaly', split='test', data_root=roots[0], pipeline=_pipeline())
    assert len(test) == 2


def test_hidden_test_frames_are_never_scored(roots):
    dataset = SMIYCDataset(track='anomaly', split='test', data_root=roots[0],
                           pipeline=_pipeline())
    assert len(dataset) == 2 and dataset.get_data_info(0)['seg_map_path'] is None
    with pytest.raises(ValueError, match='no public label'):
        dataset[0]
    both = SMIYCDataset(track='anomaly', split='all', data_root=roots[0], pipeline=_pipeline())
    infos = both.load_data_list()
    assert len(infos) == 5  # every frame, labels exactly where the frame is a validation one
    assert all((info['seg_map_path'] is not None) ==
               osp.basename(info['img_path']).startswith('validation') for info in infos)
    assert sum(info['seg_map_path'] is not None for info in infos) == 3
    images_only = SMIYCDataset(track='obstacle', split='test', data_root=roots[1],
                               pipeline=[LoadImageFromFile()])
    assert images_only[0]['img'].shape == (54, 96, 3)  # .webp decodes


def test_errors(roots, tmp_path):
    with pytest.raises(ValueError, match='track'):
        SMIYCDataset(track='lost', data_root=roots[0])
    with pytest.raises(ValueError, match='split'):
        SMIYCDataset(split='train', data_root=roots[0])
    os.remove(osp.join(roots[1], 'labels_masks', 'validation_2_labels_semantic.png'))
    with pytest.raises(FileNotFoundError, match='validation_2_labels_semantic.png'):
        SMIYCDataset(track='obstacle', data_root=roots[1])
    os.makedirs(tmp_path / 'empty' / 'images')
    with pytest.raises(FileNotFoundError, match=r'no \*\.jpg files in folder .*empty/images'):
        SMIYCDataset(data_root=str(tmp_path / 'empty'))
    for name in os.listdir(osp.join(roots[0], 'images')):
        if name.startswith('validation'):
            os.remove(osp.join(roots[0], 'images', name))
    with pytest.raises(FileNotFoundError, match='no validation frames'):
        SMIYCDataset(data_root=roots[0])
