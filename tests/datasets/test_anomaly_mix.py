"""AnomalyMix: exact pasting, uniform inclusive placement, reproducibility, skip / shrink."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmcv.transforms.utils import cache_random_params
from mmseg.datasets.transforms import LoadAnnotations

from mmseg_uem.datasets import build_outlier_bank
from mmseg_uem.datasets.transforms import AnomalyMix
from mmseg_uem.testing import make_cityscapes, make_coco

OUT = 254


def _ellipse(h, w):
    ys, xs = np.mgrid[0:h, 0:w]
    return ((ys - (h - 1) / 2) / (h / 2)) ** 2 + ((xs - (w - 1) / 2) / (w / 2)) ** 2 <= 1


def make_bank(root, boxes, seed=0):
    """A bank with one object per (h, w): an ellipse inside a random PNG image.

    Returns the crops (BGR image (h, w, 3), mask (h, w) bool) AnomalyMix must paste.
    """
    rng = np.random.default_rng(seed)
    os.makedirs(osp.join(root, 'train2017'), exist_ok=True)
    os.makedirs(osp.join(root, 'annotations', 'm'), exist_ok=True)
    index, crops = [], []
    for i, (h, w) in enumerate(boxes):
        image = rng.integers(0, 256, (h + 9, w + 6, 3), dtype=np.uint8)
        mask = np.zeros(image.shape[:2], np.uint8)
        mask[4:4 + h, 2:2 + w] = _ellipse(h, w) * 254
        cv2.imwrite(osp.join(root, 'train2017', f'{i}.png'), image)  # lossless, BGR on disk
        cv2.imwrite(osp.join(root, 'annotations', 'm', f'{i}.png'), mask)
        index.append(dict(image=f'train2017/{i}.png', mask=f'annotations/m/{i}.png',
                          bbox=[2, 4, w, h], image_id=i))
        crops.append((image[4:4 + h, 2:2 + w], mask[4:4 + h, 2:2 + w] > 0))
    with open(osp.join(root, 'index.json'), 'w') as f:
        json.dump(index, f)
    return crops


def _frame(h, w, seed=0):
    rng = np.random.default_rng(seed + 100)
    seg = rng.integers(0, 19, (h, w)).astype(np.uint8)
    seg[rng.uniform(size=(h, w)) < 0.1] = 255
    return dict(img=rng.integers(0, 256, (h, w, 3), dtype=np.uint8), gt_seg_map=seg)


def _run(mix, frame, seed):
    np.random.seed(seed)
    return mix(dict(img=frame['img'].copy(), gt_seg_map=frame['gt_seg_map'].copy()))


def _pasted_box(seg):
    ys, xs = np.nonzero(seg == OUT)
    return ys.min(), xs.min(), ys.max() - ys.min() + 1, xs.max() - xs.min() + 1


@pytest.mark.parametrize('size', [(7, 11), (8, 12), (40, 60), (33, 257)])
def test_paste_is_exact_and_local(tmp_path, size):
    (obj_img, obj_mask), = make_bank(str(tmp_path), [(7, 11)])
    mix = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0)
    frame = _frame(*size)
    before = {k: v.copy() for k, v in frame.items()}
    for seed in range(5):
        out = _run(mix, frame, seed)
        top, left, h, w = _pasted_box(out['gt_seg_map'])
        assert (h, w) == obj_mask.shape
        region = (slice(top, top + h), slice(left, left + w))
        np.testing.assert_array_equal(out['gt_seg_map'][region] == OUT, obj_mask)
        np.testing.assert_array_equal(out['img'][region][obj_mask], obj_img[obj_mask])
        changed = np.zeros(size, bool)
        changed[region] = obj_mask
        np.testing.assert_array_equal(out['img'][~changed], frame['img'][~changed])
        np.testing.assert_array_equal(out['gt_seg_map'][~changed], frame['gt_seg_map'][~changed])
    assert mix.num_pasted == 5 and mix.num_skipped == 0
    for key in frame:  # the caller's arrays are never written to
        np.testing.assert_array_equal(frame[key], before[key])


def test_every_fitting_position_is_reachable(tmp_path):
    make_bank(str(tmp_path), [(7, 11)])
    mix = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0)
    corners = {_pasted_box(_run(mix, _frame(8, 12), s)['gt_seg_map'])[:2] for s in range(80)}
    assert corners == {(0, 0), (0, 1), (1, 0), (1, 1)}
    exact = {_pasted_box(_run(mix, _frame(7, 11), s)['gt_seg_map'])[:2] for s in range(10)}
    assert exact == {(0, 0)}


def test_seeded_runs_reproduce(tmp_path):
    make_bank(str(tmp_path), [(7, 11), (5, 5), (9, 3)])
    mix = AnomalyMix(str(tmp_path), index_file='index.json', prob=0.5)
    frame = _frame(30, 40)
    runs = [[_run(mix, frame, s)['gt_seg_map'] for s in range(10)] for _ in range(2)]
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)
    assert len({r.tobytes() for r in runs[0]}) > 3  # different seeds, different outcomes
    with cache_random_params(mix):
        np.random.seed(0)
        first, second = (mix(dict(img=frame['img'].copy(),
                                  gt_seg_map=frame['gt_seg_map'].copy())) for _ in range(2))
        np.testing.assert_array_equal(first['gt_seg_map'], second['gt_seg_map'])


def test_probability_zero_and_one(tmp_path):
    make_bank(str(tmp_path), [(7, 11), (5, 5)])
    frame = _frame(20, 30)
    never = AnomalyMix(str(tmp_path), index_file='index.json', prob=0.0)
    for s in range(20):
        out = _run(never, frame, s)
        np.testing.assert_array_equal(out['img'], frame['img'])
        np.testing.assert_array_equal(out['gt_seg_map'], frame['gt_seg_map'])
    assert never.num_pasted == never.num_skipped == 0
    always = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0)
    for s in range(20):
        assert (_run(always, frame, s)['gt_seg_map'] == OUT).any()
    assert always.num_pasted == 20 and always.num_skipped == 0


def test_objects_too_large_are_skipped_and_counted(tmp_path):
    make_bank(str(tmp_path), [(7, 11), (30, 8)])
    mix = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0)
    frame = _frame(20, 30)
    pasted = sum((_run(mix, frame, s)['gt_seg_map'] == OUT).any() for s in range(40))
    assert pasted == mix.num_pasted > 0 and mix.num_skipped > 0
    assert mix.num_pasted + mix.num_skipped == 40


def test_shrink_and_scale(tmp_path):
    make_bank(str(tmp_path), [(7, 11)])
    shrink = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0, fit='shrink')
    top, left, h, w = _pasted_box(_run(shrink, _frame(5, 30), 0)['gt_seg_map'])
    assert h <= 5 and w == int(11 * 5 / 7) and shrink.num_pasted == 1
    double = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0, scale_range=(2, 2))
    assert _pasted_box(_run(double, _frame(40, 40), 0)['gt_seg_map'])[2:] == (14, 22)
    float_frame = _frame(20, 30)
    float_frame['img'] = float_frame['img'].astype(np.float32)
    assert _run(double, float_frame, 0)['img'].dtype == np.float32


def test_bad_banks_and_inputs_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match='coco_outliers.py'):
        AnomalyMix(str(tmp_path))
    make_bank(str(tmp_path), [(7, 11)])
    with open(tmp_path / 'empty.json', 'w') as f:
        json.dump([dict(image='a.jpg', mask='a.png', bbox=[0, 0, 0, 5])], f)
    with pytest.raises(ValueError, match='no usable object'):
        AnomalyMix(str(tmp_path), index_file='empty.json')
    for bad in (dict(prob=1.5), dict(fit='crop'), dict(scale_range=(2, 1)),
                dict(outlier_index=300)):
        with pytest.raises(ValueError):
            AnomalyMix(str(tmp_path), index_file='index.json', **bad)
    mix = AnomalyMix(str(tmp_path), index_file='index.json', prob=1.0)
    with pytest.raises(ValueError, match='same size'):
        mix(dict(img=np.zeros((10, 10, 3), np.uint8), gt_seg_map=np.zeros((10, 11), np.uint8)))
    cv2.imwrite(str(tmp_path / 'annotations' / 'm' / '0.png'), np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError, match='does not match'):
        _run(mix, _frame(20, 30), 0)
    assert "prob=1.0" in repr(mix) and 'num_objects=1' in repr(mix)


def test_generated_bank_on_generated_frames(tmp_path):
    """The real pipeline: LoadImageFromFile + LoadAnnotations + AnomalyMix on mini data."""
    frame_size = (64, 128)
    make_coco(str(tmp_path / 'coco'), num_images=10, min_side=48, frame_size=frame_size, seed=0)
    build_outlier_bank(str(tmp_path / 'coco'), min_size=48, progress=False)
    images = make_cityscapes(str(tmp_path / 'cs'), size=frame_size, seed=0,
                             num_per_split=dict(train=1))
    results = dict(img_path=images[0], seg_fields=[], reduce_zero_label=False,
                   seg_map_path=images[0].replace('leftImg8bit', 'gtFine', 1)
                   .replace('_leftImg8bit.png', '_gtFine_labelTrainIds.png'))
    results = LoadAnnotations()(LoadImageFromFile()(results))
    mix = AnomalyMix(str(tmp_path / 'coco'), prob=1.0)
    for seed in range(40):
        out = _run(mix, results, seed)
        changed = (out['img'] != results['img']).any(-1) | (out['gt_seg_map'] == OUT)
        assert ((out['gt_seg_map'] == OUT) | ~changed).all()  # only labelled pixels change
    assert mix.num_pasted + mix.num_skipped == 40
    assert mix.num_skipped > 0  # the generated 'huge' object is taller than the frame
