"""ColorJitter with the semantics of albumentations 1.4.24 (the official UEM pipeline).

The official code augments with ``albumentations.ColorJitter()`` at the defaults of the
version its requirements pin (1.4.24): with probability 0.5, brightness, contrast and
saturation factors each uniform in [0.8, 1.2] and a hue shift uniform in [-0.5, 0.5] of
the colour circle, applied in a random order. On uint8 images (albumentations +
albucore, read for the facts, implemented here):

- brightness b: ``v -> clip(v * b)``, truncated to uint8 (a float32 look-up table);
- contrast c: ``v -> clip(v * c + m (1 - c))``, truncated, m = mean of OpenCV's grey image;
- saturation s: ``cv2.addWeighted(img, s, grey, 1 - s)`` (rounded, saturated);
- hue h: OpenCV HSV (H in [0, 180)), ``H -> (H + 180 h) mod 180`` truncated to uint8.

mmseg's ``PhotoMetricDistortion`` is another augmentation (brightness +-32, contrast and
saturation [0.5, 1.5], hue +-18 degrees, each with probability 0.5, fixed order).
Images are in LoadImageFromFile's BGR order: the grey and HSV conversions use the BGR
formulas, i.e. the same operations on the same pixels as the official RGB pipeline.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

ORDER_NAMES = ('brightness', 'contrast', 'saturation', 'hue')


def _lut(values: np.ndarray) -> np.ndarray:
    """float32 table -> uint8 by clipping to [0, 255] and truncating (albucore's clip)."""
    return np.clip(values, 0, 255).astype(np.uint8)


def adjust_brightness(img: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1:
        return img
    return cv2.LUT(img, _lut(np.arange(256, dtype=np.float32) * np.float32(factor)))


def adjust_contrast(img: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1:
        return img
    mean = float(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).mean())
    table = np.arange(256, dtype=np.float32) * np.float32(factor) + np.float32(
        mean * (1 - factor))
    return cv2.LUT(img, _lut(table))


def adjust_saturation(img: np.ndarray, factor: float) -> np.ndarray:
    if factor == 1:
        return img
    grey = cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
    return cv2.addWeighted(img, factor, grey, 1 - factor, 0)


def adjust_hue(img: np.ndarray, factor: float) -> np.ndarray:
    if factor == 0:
        return img
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    table = np.mod(np.arange(256, dtype=np.int16) + 180 * factor, 180).astype(np.uint8)
    hsv[..., 0] = cv2.LUT(hsv[..., 0], table)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


_ADJUST = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Random brightness, contrast, saturation and hue, in a random order (uint8 BGR).

    Required Keys:

    - img (np.ndarray): (H, W, 3) uint8, BGR.

    Modified Keys:

    - img

    Randomness follows mmcv's convention (global ``np.random``, seeded per dataloader
    worker by mmengine), isolated in :meth:`_sample`.

    Args:
        brightness, contrast, saturation (tuple[float, float]): factor ranges. Default
            (0.8, 1.2) each.
        hue (tuple[float, float]): shift range in turns of the colour circle, within
            [-0.5, 0.5]. Default (-0.5, 0.5).
        prob (float): probability of jittering an image at all. Default 0.5.
    """

    def __init__(self, brightness: Sequence[float] = (0.8, 1.2),
                 contrast: Sequence[float] = (0.8, 1.2),
                 saturation: Sequence[float] = (0.8, 1.2),
                 hue: Sequence[float] = (-0.5, 0.5), prob: float = 0.5) -> None:
        self.ranges = tuple(tuple(float(v) for v in r)
                            for r in (brightness, contrast, saturation, hue))
        for name, (low, high) in zip(ORDER_NAMES, self.ranges):
            bounds = (-0.5, 0.5) if name == 'hue' else (0.0, float('inf'))
            if not bounds[0] <= low <= high <= bounds[1]:
                raise ValueError(f'{name} range must satisfy {bounds[0]} <= low <= high <= '
                                 f'{bounds[1]}, got ({low}, {high})')
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    @cache_randomness
    def _sample(self) -> Tuple[bool, Tuple[float, ...], Tuple[int, ...]]:
        """(apply?, the four factors, the order of the four operations)."""
        if np.random.rand() >= self.prob:
            return False, (), ()
        factors = tuple(float(np.random.uniform(low, high)) for low, high in self.ranges)
        return True, factors, tuple(int(i) for i in np.random.permutation(4))

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise TypeError(f'ColorJitter needs an (H, W, 3) uint8 image, got {img.dtype} '
                            f'{img.shape} ({results.get("img_path", "?")})')
        apply, factors, order = self._sample()
        if apply:
            results['img'] = apply_color_jitter(img, factors, order)
        return results

    def __repr__(self) -> str:
        ranges = ', '.join(f'{n}={r}' for n, r in zip(ORDER_NAMES, self.ranges))
        return f'{type(self).__name__}({ranges}, prob={self.prob})'


def apply_color_jitter(img: np.ndarray, factors: Sequence[float],
                       order: Sequence[int]) -> np.ndarray:
    """The four operations with ``factors`` (brightness, contrast, saturation, hue) in
    ``order`` (indices into that tuple)."""
    for i in order:
        img = _ADJUST[i](img, factors[i])
    return img
