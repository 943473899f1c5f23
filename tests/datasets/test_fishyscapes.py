"""FishyscapesLaFDataset on generated Fishyscapes labels + LostAndFound images."""
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmseg.datasets.transforms import PackSegInputs
from PIL import Image

from mmseg_uem.datasets import FishyscapesLaFDataset, LoadOoDAnnotations
from mmseg_uem.testing import make_fishyscapes_laf


@pytest.fixture
def root(tmp_path):
    make_fishyscapes_laf(str(tmp_path), num_frames=4, size=(48, 96), seed=0)
    return str(tmp_path)


def test_pairs_every_label_with_its_laf_image(root):
    dataset = FishyscapesLaFDataset(
        data_root=root, pipeline=[LoadImageFromFile(), LoadOoDAnnotations(), PackSegInputs()])
    assert len(dataset) == 4  # the unlabelled LostAndFound frame is not used
    values, all_inlier = set(), 0
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        label = osp.basename(info['seg_map_path'])
        assert osp.basename(info['img_path']) == label[5:-10] + 'leftImg8bit.png'
        split, scene = info['img_path'].split(os.sep)[-3:-1]
        assert split in ('train', 'test') and label[5:].startswith(scene)
        gt = dataset[i]['data_samples'].gt_sem_seg.data.numpy()
        np.testing.assert_array_equal(gt[0], np.asarray(Image.open(info['seg_map_path'])))
        values |= set(np.unique(gt).tolist())
        all_inlier += 1 not in gt
    assert values == {0, 1, 255} and all_inlier == 1  # the all-inlier frame is kept


def test_missing_image_and_bad_names_are_reported(root):
    image = sorted(glob.glob(osp.join(root, 'lost_and_found', 'leftImg8bit', 'test', '*',
                                      '*.png')))[0]
    shutil.move(image, image + '.away')
    with pytest.raises(FileNotFoundError, match=osp.basename(image)):
        FishyscapesLaFDataset(data_root=root)
    shutil.move(image + '.away', image)
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(
        osp.join(root, 'fishyscapes_lostandfound', 'overview_labels.png'))
    with pytest.raises(ValueError, match='overview_labels.png is not named like'):
        FishyscapesLaFDataset(data_root=root)


def test_empty_label_folder_is_named(tmp_path):
    os.makedirs(tmp_path / 'fishyscapes_lostandfound')
    with pytest.raises(FileNotFoundError, match='fishyscapes_lostandfound'):
        FishyscapesLaFDataset(data_root=str(tmp_path))
