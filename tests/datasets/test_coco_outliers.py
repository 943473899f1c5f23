"""The COCO outlier bank builder on the generated COCO set, checked with pycocotools."""
import json
import os
import os.path as osp
import runpy
import sys

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from mmseg_uem.datasets import (
    DEFAULT_EXCLUDED_CLASSES,
    META_OOD_EXCLUDED_CLASSES,
    build_outlier_bank,
)
from mmseg_uem.testing import make_coco

MIN_SIDE = 48
INDEX = 'annotations/ood_seg_train2017_index.json'


@pytest.fixture
def coco_root(tmp_path):
    make_coco(str(tmp_path), num_images=12, min_side=MIN_SIDE, frame_size=(64, 128), seed=1)
    return str(tmp_path)


def _expected(root, excluded):
    """Image ids a correct builder keeps, computed from the json with pycocotools."""
    coco = COCO(osp.join(root, 'annotations', 'instances_train2017.json'))
    bad = set(coco.getCatIds(catNms=list(excluded)))
    kept, dropped = {}, set()
    for image_id, info in coco.imgs.items():
        anns = coco.imgToAnns[image_id]
        if any(a['category_id'] in bad for a in anns):
            dropped.add(image_id)
        elif min(info['height'], info['width']) >= MIN_SIDE and anns:
            union = np.zeros((info['height'], info['width']), bool)
            for ann in anns:
                union |= coco.annToMask(ann).astype(bool)
            kept[image_id] = union
    return coco, kept, dropped


def test_bank_keeps_exactly_the_clean_images(coco_root):
    stats = build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False)
    coco, kept, dropped = _expected(coco_root, DEFAULT_EXCLUDED_CLASSES)
    with open(osp.join(coco_root, INDEX)) as f:
        index = json.load(f)
    assert {e['image_id'] for e in index} == set(kept)
    assert not dropped & {e['image_id'] for e in index}
    assert stats.bank_size == stats.written == len(kept)
    assert (stats.excluded + stats.too_small + stats.without_objects + stats.bank_size
            == stats.num_images == len(coco.imgs))
    assert stats.excluded == len(dropped) == 3 and stats.too_small == 1
    assert stats.without_objects == 1 and stats.num_crowd == 1
    for entry in index:
        mask = np.asarray(Image.open(osp.join(coco_root, entry['mask'])))
        assert entry['mask'] == f'annotations/ood_seg_train2017/{entry["image_id"]:012d}.png'
        assert osp.isfile(osp.join(coco_root, entry['image']))
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 254}
        np.testing.assert_array_equal(mask == 254, kept[entry['image_id']])  # crowd included
        x, y, w, h = entry['bbox']
        ys, xs = np.nonzero(mask)
        assert (x, y, w, h) == (xs.min(), ys.min(), np.ptp(xs) + 1, np.ptp(ys) + 1)


def test_train_class_is_a_deliberate_difference(coco_root):
    with_train = build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False,
                                    index_file='a.json')
    meta_ood = build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False,
                                  excluded_classes=META_OOD_EXCLUDED_CLASSES, index_file='b.json')
    assert 'train' in DEFAULT_EXCLUDED_CLASSES and 'train' not in META_OOD_EXCLUDED_CLASSES
    assert meta_ood.bank_size == with_train.bank_size + 1
    assert meta_ood.excluded == with_train.excluded - 1


def test_bank_is_resumable(coco_root):
    first = build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False)
    with open(osp.join(coco_root, INDEX)) as f:
        index = json.load(f)
    os.remove(osp.join(coco_root, index[0]['mask']))
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(osp.join(coco_root, index[1]['mask']))
    second = build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False)
    assert second.written == 2 and second.reused == first.bank_size - 2
    with open(osp.join(coco_root, INDEX)) as f:
        assert json.load(f) == index


def _masks_on_disk(root):
    return sorted(os.listdir(osp.join(root, 'annotations', 'ood_seg_train2017')))


def test_rerun_follows_changed_settings(coco_root, monkeypatch, capsys):
    """Another --mask-value rewrites the masks; a larger --min-size removes the masks of the
    images it drops; --overwrite rewrites everything."""
    first = build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False)
    recoloured = build_outlier_bank(coco_root, min_size=MIN_SIDE, mask_value=200,
                                    progress=False)
    assert (recoloured.written, recoloured.reused) == (first.bank_size, 0)
    with open(osp.join(coco_root, INDEX)) as f:
        index = json.load(f)
    for entry in index:
        assert set(np.unique(Image.open(osp.join(coco_root, entry['mask'])))) == {0, 200}

    _, kept, _ = _expected(coco_root, DEFAULT_EXCLUDED_CLASSES)
    with open(osp.join(coco_root, 'annotations', 'instances_train2017.json')) as f:
        sizes = {i['id']: min(i['height'], i['width']) for i in json.load(f)['images']}
    bigger = sorted({sizes[i] for i in kept})[1]  # drops the smallest kept images
    survivors = {i for i in kept if sizes[i] >= bigger}
    assert 0 < len(survivors) < len(kept)
    smaller = build_outlier_bank(coco_root, min_size=bigger, mask_value=200, progress=False)
    assert (smaller.bank_size, smaller.reused, smaller.removed) == (
        len(survivors), len(survivors), len(kept) - len(survivors))
    assert _masks_on_disk(coco_root) == sorted(f'{i:012d}.png' for i in survivors)

    tool = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters',
                    'coco_outliers.py')
    monkeypatch.setattr(sys, 'argv', [tool, coco_root, '--min-size', str(bigger),
                                      '--mask-value', '200', '--overwrite'])
    runpy.run_path(tool, run_name='__main__')
    assert f'({len(survivors)} written, 0 reused)' in capsys.readouterr().out


def test_truncated_json_is_named(coco_root):
    path = osp.join(coco_root, 'annotations', 'instances_train2017.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:len(text) // 2])
    with pytest.raises(ValueError, match=r'instances_train2017\.json is not valid json'):
        build_outlier_bank(coco_root, progress=False)


def test_panoptic_json_is_refused_naming_the_file(tmp_path):
    os.makedirs(tmp_path / 'annotations')
    path = tmp_path / 'annotations' / 'instances_train2017.json'
    path.write_text(json.dumps(dict(
        images=[dict(id=1, file_name='1.jpg', height=4, width=4)],
        annotations=[dict(image_id=1, file_name='1.png', segments_info=[])],
        categories=[dict(id=1, name='person')])))
    with pytest.raises(ValueError, match=r'instances_train2017\.json is a COCO panoptic'):
        build_outlier_bank(str(tmp_path), progress=False)
    path.write_text(json.dumps(dict(images=[])))
    with pytest.raises(ValueError, match='not a COCO instances json'):
        build_outlier_bank(str(tmp_path), progress=False)
    with pytest.raises(FileNotFoundError, match='nothing.json'):
        build_outlier_bank(str(tmp_path), ann_file='nothing.json', progress=False)


def test_bad_settings_and_empty_bank_raise(coco_root):
    with pytest.raises(ValueError, match='motorbike'):
        build_outlier_bank(coco_root, excluded_classes=('motorbike',), progress=False)
    with pytest.raises(ValueError, match='no usable outlier object'):
        build_outlier_bank(coco_root, min_size=10_000, progress=False)
    assert not osp.exists(osp.join(coco_root, INDEX))
    with pytest.raises(ValueError, match='mask_value'):
        build_outlier_bank(coco_root, mask_value=0, progress=False)


def test_missing_image_is_named(coco_root):
    coco, kept, _ = _expected(coco_root, DEFAULT_EXCLUDED_CLASSES)
    victim = coco.imgs[sorted(kept)[0]]['file_name']
    os.remove(osp.join(coco_root, 'train2017', victim))
    with pytest.raises(FileNotFoundError, match=victim):
        build_outlier_bank(coco_root, min_size=MIN_SIDE, progress=False)


def test_tool_script(coco_root, monkeypatch, capsys):
    tool = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters',
                    'coco_outliers.py')
    monkeypatch.setattr(sys, 'argv', [tool, coco_root, '--min-size', str(MIN_SIDE)])
    runpy.run_path(tool, run_name='__main__')
    assert 'bank = 7 masks' in capsys.readouterr().out
