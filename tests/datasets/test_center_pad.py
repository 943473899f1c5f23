"""CenterPad: centred padding as albumentations' PadIfNeeded, worked out by hand."""
import numpy as np
import pytest

from mmseg_uem.datasets.transforms import CenterPad
from mmseg_uem.datasets.transforms.center_pad import center_padding


def test_padding_split_as_the_official_crops():
    assert center_padding((512, 1024), (518, 1036)) == (3, 3, 6, 6)
    assert center_padding((2, 3), (4, 6)) == (1, 1, 1, 2)  # odd total: one more after
    assert center_padding((600, 1100), (518, 1036)) == (0, 0, 0, 0)


def test_image_and_label_by_hand():
    img = np.arange(1, 19, dtype=np.uint8).reshape(2, 3, 3)
    seg = np.array([[0, 1, 2], [3, 4, 5]], np.uint8)
    out = CenterPad((4, 6)).transform(dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map']))
    expected_seg = np.full((4, 6), 255, np.uint8)
    expected_seg[1:3, 1:4] = seg
    np.testing.assert_array_equal(out['gt_seg_map'], expected_seg)
    expected_img = np.zeros((4, 6, 3), np.uint8)
    expected_img[1:3, 1:4] = img
    np.testing.assert_array_equal(out['img'], expected_img)
    assert out['img_shape'] == (4, 6) and out['center_padding'] == (1, 1, 1, 2)
    assert repr(CenterPad((4, 6))) == ('CenterPad(size=(4, 6), pad_val=0, seg_pad_val=255, '
                                       'pad_seg=True)')


def test_test_time_padding_keeps_the_label_and_records_the_padding():
    img = np.full((2, 3, 3), 7, np.uint8)
    seg = np.zeros((2, 3), np.uint8)
    out = CenterPad((4, 6), pad_seg=False).transform(
        dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map']))
    assert out['img'].shape == (4, 6, 3) and out['gt_seg_map'].shape == (2, 3)
    assert out['img_padding_size'] == [1, 2, 1, 1]  # mmseg's [left, right, top, bottom]


def test_bad_size_is_refused():
    with pytest.raises(ValueError, match='size must be'):
        CenterPad((0, 4))
