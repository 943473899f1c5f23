"""CenterPad: pad image and label to a fixed size, split evenly around the content.

The official UEM training pipeline pads its 512x1024 crops to 518x1036 (multiples of the
14 px patch) with albumentations ``PadIfNeeded(min_height, min_width, border_mode=0,
mask_value=255)``: centred (before = floor(total / 2), the rest after: 3 px top and
bottom, 6 px left and right), image pixels 0 *before* normalisation (black), labels 255.
mmcv's ``Pad`` (and the data preprocessor's ``size``) pad at the bottom / right only.
Its Cityscapes validation pads the 1024x2048 frames to 1036x2058 the same way (labels
padded with 255); with ``pad_seg=False`` the label keeps its size and the padding is
recorded as ``img_padding_size``, which mmseg's segmentors crop from the prediction.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS

from ...utils.labels import IGNORE_INDEX


def center_padding(size: Sequence[int], target: Sequence[int]) -> Tuple[int, int, int, int]:
    """(top, bottom, left, right) padding from (h, w) to at least (H, W), centred as
    albumentations' ``PadIfNeeded``: before = floor(total / 2), after = the rest."""
    (h, w), (th, tw) = size, target
    pad_h, pad_w = max(th - h, 0), max(tw - w, 0)
    return pad_h // 2, pad_h - pad_h // 2, pad_w // 2, pad_w - pad_w // 2


@TRANSFORMS.register_module()
class CenterPad(BaseTransform):
    """Pad ``img`` and the segmentation maps to at least ``size``, centred.

    Required Keys:

    - img (np.ndarray): (H, W, C).

    Modified Keys:

    - img, gt_seg_map (if present), img_shape

    Added Keys:

    - pad_shape, center_padding ((top, bottom, left, right) in pixels)
    - img_padding_size ([left, right, top, bottom], mmseg's order) with ``pad_seg=False``

    Args:
        size (tuple[int, int]): (H, W) to pad to; larger sides are left as they are.
        pad_val (float): image value of the padding, in raw pixel units (0: black, as the
            official pipeline, whose padding is normalised with the image). Default 0.
        seg_pad_val (int): label of the padding. Default 255.
        pad_seg (bool): pad the segmentation maps too (training); False (testing) leaves
            them as they are and records ``img_padding_size``. Default True.
    """

    def __init__(self, size: Sequence[int], *, pad_val: float = 0, seg_pad_val: int = IGNORE_INDEX,
                 pad_seg: bool = True) -> None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f'size must be (H, W) with positive sides, got {size}')
        self.size = (int(size[0]), int(size[1]))
        self.pad_val = pad_val
        self.seg_pad_val = seg_pad_val
        self.pad_seg = pad_seg

    def transform(self, results: dict) -> dict:
        img = results['img']
        top, bottom, left, right = center_padding(img.shape[:2], self.size)
        if top or bottom or left or right:
            results['img'] = cv2.copyMakeBorder(img, top, bottom, left, right,
                                                cv2.BORDER_CONSTANT, value=_fill(img,
                                                                                 self.pad_val))
            for key in results.get('seg_fields', []) if self.pad_seg else []:
                seg = results[key]
                results[key] = np.pad(seg, ((top, bottom), (left, right)),
                                      constant_values=self.seg_pad_val)
        if not self.pad_seg:
            results['img_padding_size'] = [left, right, top, bottom]
        results['img_shape'] = results['img'].shape[:2]
        results['pad_shape'] = results['img'].shape
        results['center_padding'] = (top, bottom, left, right)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(size={self.size}, pad_val={self.pad_val}, '
                f'seg_pad_val={self.seg_pad_val}, pad_seg={self.pad_seg})')


def _fill(img: np.ndarray, value: float):
    """cv2 border value for every channel (cv2 takes at most 4)."""
    channels = 1 if img.ndim == 2 else img.shape[2]
    return [value] * min(channels, 4)
