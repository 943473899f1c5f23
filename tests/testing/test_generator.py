"""The miniature data generator, checked with the real readers of each format."""
import glob
import hashlib
import json
import os
import os.path as osp
import re

import cv2
import numpy as np
import pytest
from cityscapesscripts.helpers.labels import id2label
from PIL import Image
from pycocotools.coco import COCO

from mmseg_uem.testing import (
    LABEL_IDS,
    foreign_texture,
    make_coco,
    make_dataset_tree,
    rasterize,
    render_street_scene,
    uncompressed_rle,
)
from mmseg_uem.testing.make_data import main as make_data_main

SIZE = (64, 128)


@pytest.fixture(scope='module')
def tree(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('data'))
    written = make_dataset_tree(out, size=SIZE, seed=3, num_coco=10, coco_min_side=48)
    return out, written


def _digest(root):
    files = sorted(p for p in glob.glob(osp.join(root, '**', '*'), recursive=True)
                   if osp.isfile(p))
    h = hashlib.sha256()
    for p in files:
        h.update(osp.relpath(p, root).encode())
        with open(p, 'rb') as f:
            h.update(f.read())
    return h.hexdigest()


def test_cli_is_deterministic_and_seed_dependent(tmp_path):
    args = ['--size', '48', '96', '--num-train', '2', '--num-val', '1', '--num-coco', '8',
            '--coco-min-side', '40', '--num-road-anomaly', '1', '--num-laf', '2',
            '--num-smiyc-anomaly', '1', '--num-smiyc-obstacle', '1', '--num-smiyc-test', '1']
    for name, seed in (('a', '0'), ('b', '0'), ('c', '1')):
        make_data_main(['--out', str(tmp_path / name), '--seed', seed] + args)
    assert sorted(os.listdir(tmp_path / 'a')) == sorted([
        'cityscapes', 'coco', 'RoadAnomaly_jpg', 'fishyscapes', 'dataset_AnomalyTrack',
        'dataset_ObstacleTrack'])
    assert _digest(tmp_path / 'a') == _digest(tmp_path / 'b')
    assert _digest(tmp_path / 'a') != _digest(tmp_path / 'c')


def test_cityscapes_layout_and_label_round_trip(tree):
    out, written = tree
    root = osp.join(out, 'cityscapes')
    assert len(written['cityscapes']) == 8
    name = re.compile(r'^([a-z]+)_(\d{6})_(\d{6})_leftImg8bit\.png$')
    for img_path in written['cityscapes']:
        split, city, fname = img_path.split(os.sep)[-3:]
        match = name.match(fname)
        assert match and match.group(1) == city and split in ('train', 'val')
        stem = fname[:-len('_leftImg8bit.png')]
        gt = osp.join(root, 'gtFine', split, city, stem + '_gtFine_')
        image = np.asarray(Image.open(img_path))
        ids = np.asarray(Image.open(gt + 'labelIds.png'))
        train_ids = np.asarray(Image.open(gt + 'labelTrainIds.png'))
        colour = np.asarray(Image.open(gt + 'color.png'))
        assert image.shape == SIZE + (3,) and ids.shape == train_ids.shape == SIZE
        assert ids.dtype == np.uint8 and train_ids.dtype == np.uint8
        for label_id in np.unique(ids):
            label = id2label[int(label_id)]  # every id is a real Cityscapes label
            expected = label.trainId if 0 <= label.trainId < 255 else 255
            assert (train_ids[ids == label_id] == expected).all()
            assert (colour[ids == label_id] == label.color).all()


def test_scenes_have_learnable_layout():
    sky, road, means = [], [], {}
    for i in range(6):
        scene = render_street_scene(np.random.default_rng(i), 96, 192, ego_vehicle=False)
        ids = scene.label_ids
        sky.append((ids[:5] == LABEL_IDS['sky']).mean() + (ids[:5] == 11).mean()
                   + (ids[:5] == 21).mean())
        road.append((ids[-5:] == LABEL_IDS['road']).mean())
        for name in ('sky', 'road', 'building', 'sidewalk', 'car'):
            pixels = scene.image[ids == LABEL_IDS[name]]
            means.setdefault(name, []).append(pixels.reshape(-1, 3))
        assert scene.road_mask.sum() > 0
    assert np.mean(sky) > 0.95  # the top rows are sky or skyline
    assert np.mean(road) > 0.6  # the bottom rows are mostly road
    centres = {k: np.concatenate(v).mean(0) for k, v in means.items()}
    names = list(centres)
    for a in range(len(names)):
        for b in range(a + 1, len(names)):
            assert np.abs(centres[names[a]] - centres[names[b]]).max() > 8, (names[a], names[b])


def _saturation(rgb):
    return cv2.cvtColor(rgb.reshape(1, -1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV)[0, :, 1]


def test_foreign_objects_never_look_like_the_scenes():
    scene_sat = np.concatenate([
        _saturation(render_street_scene(np.random.default_rng(i), 64, 128).image)
        for i in range(4)])
    for family in ('coco', 'anomaly'):
        tex = foreign_texture(np.random.default_rng(0), 32, 32, family=family)
        assert np.median(_saturation(tex)) > np.percentile(scene_sat, 99.5)
    with pytest.raises(ValueError, match='family'):
        foreign_texture(np.random.default_rng(0), 4, 4, family='cats')


def test_uncompressed_rle_round_trips_through_pycocotools():
    from pycocotools import mask as mask_utils
    rng = np.random.default_rng(0)
    for first in (0, 1):
        mask = rng.uniform(size=(7, 5)) > 0.5
        mask[0, 0] = first
        rle = mask_utils.frPyObjects(uncompressed_rle(mask), 7, 5)
        np.testing.assert_array_equal(mask_utils.decode(rle), mask)


def test_coco_json_reads_with_pycocotools(tree):
    out, written = tree
    root = osp.join(out, 'coco')
    coco = COCO(osp.join(root, 'annotations', 'instances_train2017.json'))
    cats = {c['id']: c['name'] for c in coco.dataset['categories']}
    assert cats[1] == 'person' and cats[7] == 'train' and cats[18] == 'dog'
    assert cats[22] == 'elephant' and cats[28] == 'umbrella'
    sides = []
    crowd = 0
    for image_id, info in coco.imgs.items():
        image = np.asarray(Image.open(osp.join(root, 'train2017', info['file_name'])))
        assert info['file_name'] == f'{image_id:012d}.jpg'
        assert image.shape == (info['height'], info['width'], 3)
        sides.append(min(image.shape[:2]))
        for ann in coco.imgToAnns[image_id]:
            mask = coco.annToMask(ann).astype(bool)
            assert mask.sum() == ann['area'] > 0
            x, y, w, h = (int(v) for v in ann['bbox'])
            assert mask[y:y + h, x:x + w].sum() == mask.sum()
            if ann['iscrowd']:
                crowd += 1
                assert isinstance(ann['segmentation']['counts'], list)  # uncompressed RLE
            else:
                assert mask.sum() == rasterize(ann['segmentation'], *mask.shape).sum()
            # The object is drawn where its mask is: saturated pixels (JPEG-blurred edges
            # aside), unlike the muted backgrounds.
            eroded = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            if eroded.sum() > 20 and written['coco'].roles[image_id] != 'excluded':
                assert np.median(_saturation(image[eroded])) > 150
    assert crowd == 1
    assert sum(s >= 48 for s in sides) == len(sides) - 1 and 48 in sides
    roles = written['coco'].roles
    assert set(roles.values()) == {'excluded', 'train', 'small', 'empty', 'crowd', 'huge',
                                   'normal'}
    huge = [i for i, r in roles.items() if r == 'huge'][0]
    assert max(coco.annToMask(a).any(1).sum() for a in coco.imgToAnns[huge]) > SIZE[0]


def test_coco_needs_every_role(tmp_path):
    with pytest.raises(ValueError, match='num_images'):
        make_coco(str(tmp_path), num_images=3, min_side=32, frame_size=SIZE, seed=0)


def _label(path):
    return np.asarray(Image.open(path))


def test_road_anomaly_layout(tree):
    out, written = tree
    root = osp.join(out, 'RoadAnomaly_jpg')
    with open(osp.join(root, 'frame_list.json')) as f:
        names = json.load(f)
    assert len(names) == len(written['road_anomaly']) == 3
    for name, (img, label) in zip(names, written['road_anomaly']):
        assert img == osp.join(root, 'frames', name)
        assert label == osp.join(root, 'frames', name[:-4] + '.labels', 'labels_semantic.png')
        values = _label(label)
        assert set(np.unique(values)) == {0, 2}
        # 16:9 at the Cityscapes width
        assert values.shape == np.asarray(Image.open(img)).shape[:2] == (72, 128)


def test_fishyscapes_laf_layout(tree):
    out, written = tree
    root = osp.join(out, 'fishyscapes')
    labels = sorted(glob.glob(osp.join(root, 'fishyscapes_lostandfound', '*_labels.png')))
    assert len(labels) == 4
    images = glob.glob(osp.join(root, 'lost_and_found', 'leftImg8bit', '*', '*', '*.png'))
    assert len(images) == 5  # one LostAndFound frame without a Fishyscapes label
    without_anomaly = 0
    for label in labels:
        name = osp.basename(label)[5:-10] + 'leftImg8bit.png'
        found = [p for p in images if osp.basename(p) == name]
        assert len(found) == 1 and osp.basename(osp.dirname(found[0])) in name
        values = set(np.unique(_label(label)))
        assert values <= {0, 1, 255}
        without_anomaly += 1 not in values
    assert without_anomaly == 1
    assert any(255 in _label(p) for p in labels)


def test_smiyc_layouts(tree):
    out, written = tree
    anomaly = osp.join(out, 'dataset_AnomalyTrack')
    assert sorted(os.listdir(osp.join(anomaly, 'images'))) == [
        'airplane0001.jpg', 'validation0000.jpg', 'validation0001.jpg', 'validation0002.jpg',
        'zebra0000.jpg']
    assert len(glob.glob(osp.join(anomaly, 'labels_masks', '*_color.png'))) == 3
    for img, label in written['smiyc_anomaly']:
        assert set(np.unique(_label(label))) <= {0, 1, 255}
        assert _label(label).shape == np.asarray(Image.open(img)).shape[:2]
    obstacle = osp.join(out, 'dataset_ObstacleTrack')
    # real RoadObstacle21 frame ids: a test scene and a night one
    assert sorted(os.listdir(osp.join(obstacle, 'images')))[:2] == [
        'driveway_carton_bowl_3.webp', 'gravel_boot_2.webp']
    for img, label in written['smiyc_obstacle']:
        assert re.search(r'validation_\d+_labels_semantic\.png$', label)
        pil = np.asarray(Image.open(img).convert('RGB'))
        assert cv2.imread(img).shape == pil.shape  # both readers decode .webp
        values = _label(label)
        assert set(np.unique(values)) == {0, 1, 255}
        assert values.shape == pil.shape[:2]


def test_size_is_a_parameter(tmp_path):
    with pytest.raises(ValueError, match='32x32'):
        make_dataset_tree(str(tmp_path), size=(16, 64))
