"""ColorJitter (albumentations 1.4.24 semantics) against values worked out by hand."""
import numpy as np
import pytest

from mmseg_uem.datasets.transforms import ColorJitter
from mmseg_uem.datasets.transforms.color_jitter import (
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    apply_color_jitter,
)


def grey(*values):
    """(1, n, 3) BGR image of grey pixels."""
    return np.repeat(np.array(values, np.uint8)[None, :, None], 3, axis=2)


def test_brightness_truncates_and_clips():
    # 100 * 1.1 = 110.000002 -> 110, 101 * 1.1 = 111.1 -> 111 (truncated), 250 * 1.1 -> 255
    out = adjust_brightness(grey(0, 100, 101, 250), 1.1)
    assert out[0, :, 0].tolist() == [0, 110, 111, 255]


def test_contrast_blends_with_the_grey_mean():
    # mean 20: v * 0.5 + 20 * 0.5
    assert adjust_contrast(grey(10, 30), 0.5)[0, :, 0].tolist() == [15, 25]


def test_saturation_blends_with_the_pixels_grey():
    # RGB (200, 100, 50): grey = 0.299 * 200 + 0.587 * 100 + 0.114 * 50 = 124.2 -> 124;
    # 0.5 * v + 0.5 * 124 per channel, BGR order
    img = np.array([[[50, 100, 200]]], np.uint8)
    assert adjust_saturation(img, 0.5)[0, 0].tolist() == [87, 112, 162]


def test_hue_turns_red_into_green():
    # OpenCV hue of red is 0 (of 180); + 180 / 3 = 60 is green
    assert adjust_hue(np.array([[[0, 0, 255]]], np.uint8), 1 / 3)[0, 0].tolist() == [0, 255, 0]
    assert adjust_hue(np.array([[[0, 0, 255]]], np.uint8), -1 / 3)[0, 0].tolist() == [255, 0, 0]


def test_order_matters_through_clipping():
    img = grey(100, 200)
    # brightness 2 first: [200, 255]; then contrast 0.5 about 227.5: 213.75, 241.25
    assert apply_color_jitter(img, (2.0, 0.5, 1.0, 0.0), (0, 1, 2, 3))[0, :, 0].tolist() == \
        [213, 241]
    # contrast first about 150: [125, 175]; then brightness 2: [250, 255]
    assert apply_color_jitter(img, (2.0, 0.5, 1.0, 0.0), (1, 0, 2, 3))[0, :, 0].tolist() == \
        [250, 255]


def test_defaults_are_albumentations_1_4_24():
    t = ColorJitter()
    assert t.ranges == ((0.8, 1.2), (0.8, 1.2), (0.8, 1.2), (-0.5, 0.5))
    assert t.prob == 0.5
    assert repr(t) == ('ColorJitter(brightness=(0.8, 1.2), contrast=(0.8, 1.2), '
                       'saturation=(0.8, 1.2), hue=(-0.5, 0.5), prob=0.5)')


def test_sampling_probability_ranges_and_orders():
    t = ColorJitter()
    np.random.seed(0)
    draws = [t._sample() for _ in range(2000)]
    applied = [d for d in draws if d[0]]
    assert abs(len(applied) / len(draws) - 0.5) < 0.05
    factors = np.array([d[1] for d in applied])
    assert (factors[:, :3] >= 0.8).all() and (factors[:, :3] <= 1.2).all()
    assert (np.abs(factors[:, 3]) <= 0.5).all() and factors[:, 3].std() > 0.25
    assert len({d[2] for d in applied}) == 24  # every order of the four operations
    img = grey(10, 200)
    assert ColorJitter(prob=0.0).transform(dict(img=img.copy()))['img'].tolist() == img.tolist()


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match='hue range'):
        ColorJitter(hue=(-0.6, 0.5))
    with pytest.raises(ValueError, match='brightness range'):
        ColorJitter(brightness=(1.2, 0.8))
    with pytest.raises(TypeError, match=r'uint8 image.*a\.png'):
        ColorJitter(prob=1.0).transform(dict(img=np.zeros((2, 2, 3), np.float32),
                                             img_path='a.png'))
