"""tools/dataset_converters/cityscapes.py on generated Cityscapes, loaded by mmseg."""
import glob
import importlib.util
import os
import os.path as osp

import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label
from mmseg.datasets import CityscapesDataset
from mmseg.datasets.transforms import LoadAnnotations
from PIL import Image

from mmseg_uem.testing import make_cityscapes

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters',
                'cityscapes.py')


@pytest.fixture(scope='module')
def converter():
    spec = importlib.util.spec_from_file_location('cityscapes_converter', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def root(tmp_path):
    make_cityscapes(str(tmp_path), size=(32, 64), seed=0, num_per_split=dict(train=3, val=2))
    return str(tmp_path)


def test_train_ids_match_cityscapesscripts(converter, root):
    shipped = {p: np.asarray(Image.open(p)) for p in
               glob.glob(osp.join(root, 'gtFine', '*', '*', '*_labelTrainIds.png'))}
    for path in shipped:
        os.remove(path)
    written, kept = converter.convert_cityscapes(root)
    assert (written, kept) == (5, 0)
    for path, expected in shipped.items():
        np.testing.assert_array_equal(np.asarray(Image.open(path)), expected)
    lut = converter.train_id_lut()
    for label_id, label in id2label.items():
        if label_id >= 0:
            assert lut[label_id] == (label.trainId if 0 <= label.trainId < 255 else 255)
    assert converter.convert_cityscapes(root) == (0, 5)  # resumable
    assert converter.convert_cityscapes(root, overwrite=True) == (5, 0)


def test_split_lists_load_with_mmseg_cityscapes_dataset(converter, root):
    lists = converter.write_split_lists(root)
    assert [osp.basename(p) for p in lists] == ['train.txt', 'val.txt']
    dataset = CityscapesDataset(
        data_root=root, ann_file='val.txt',
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=[LoadAnnotations()])
    assert len(dataset) == 2
    for i in range(2):
        gt = dataset[i]['gt_seg_map']
        assert set(np.unique(gt)) <= set(range(19)) | {255} and gt.shape == (32, 64)


def test_no_labels_is_an_error(converter, tmp_path):
    with pytest.raises(FileNotFoundError, match='labelIds'):
        converter.convert_cityscapes(str(tmp_path))
