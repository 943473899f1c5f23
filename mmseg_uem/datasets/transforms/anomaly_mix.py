"""AnomalyMix: paste a COCO outlier object into a training frame, labelled ``outlier_index``.

As in UEM (``datamodules/datasets/cityscapes.py``, with PEBAL's / RbA's ``mix_object``):
with probability ``prob`` pick a random bank object, crop image and mask to the mask's
bounding box, place the box at a uniformly random position inside the frame and overwrite
image and label where the mask is set. Unscaled by default; applied at full resolution
before the usual scale / crop / flip / colour augmentation. Unlike PEBAL, every position
with the box inside the frame is reachable (``randint(0, H - h + 1)``), any frame size
works, and an object larger than the frame is counted, never silently dropped.
"""
import json
import os.path as osp
from typing import List, Optional, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness
from mmseg.registry import TRANSFORMS

from ...utils.labels import OUTLIER_INDEX
from ..coco_outliers import DEFAULT_INDEX_FILE


@TRANSFORMS.register_module()
class AnomalyMix(BaseTransform):
    """Paste a random outlier object from a bank built by ``build_outlier_bank``.

    Required Keys:

    - img (np.ndarray): (H, W, 3), in LoadImageFromFile's BGR order.
    - gt_seg_map (np.ndarray): (H, W) labels.

    Modified Keys:

    - img
    - gt_seg_map

    Randomness follows mmcv's convention (global ``np.random``, which mmengine seeds per
    dataloader worker), isolated in :meth:`_sample`, so seeded runs reproduce.
    ``num_pasted`` / ``num_skipped`` count this instance's pastes and the objects that did
    not fit (per dataloader worker process).

    Args:
        bank_root (str): COCO folder the bank index paths are relative to.
        index_file (str): Bank index (json list of ``{image, mask, bbox}``), relative to
            ``bank_root``. Defaults to ``annotations/ood_seg_train2017_index.json``.
        prob (float): Probability of pasting one object into a sample. Defaults to 0.2.
        outlier_index (int): Label written under the pasted object. Defaults to 254.
        scale_range (tuple[float, float], optional): Rescale the object by a factor drawn
            uniformly from this range; None (default) pastes it unscaled, as UEM does.
        fit (str): What to do with an object larger than the frame: ``'skip'`` (default,
            counted in ``num_skipped``) or ``'shrink'`` it to fit, keeping its aspect.
        imdecode_backend (str): Backend of :func:`mmcv.imfrombytes`. Defaults to 'cv2'.
        backend_args (dict, optional): File backend arguments (mmengine.fileio).
    """

    def __init__(self,
                 bank_root: str,
                 *,
                 index_file: str = DEFAULT_INDEX_FILE,
                 prob: float = 0.2,
                 outlier_index: int = OUTLIER_INDEX,
                 scale_range: Optional[Tuple[float, float]] = None,
                 fit: str = 'skip',
                 imdecode_backend: str = 'cv2',
                 backend_args: Optional[dict] = None) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        if not 0 <= outlier_index <= 255:
            raise ValueError(f'outlier_index must be in 0..255, got {outlier_index}')
        if fit not in ('skip', 'shrink'):
            raise ValueError(f"fit must be 'skip' or 'shrink', got {fit!r}")
        if scale_range is not None:
            scale_range = tuple(float(s) for s in scale_range)
            if len(scale_range) != 2 or not 0 < scale_range[0] <= scale_range[1]:
                raise ValueError(f'scale_range must be (lo, hi) with 0 < lo <= hi, '
                                 f'got {scale_range}')
        self.bank_root = bank_root
        self.index_file = index_file
        self.prob = prob
        self.outlier_index = outlier_index
        self.scale_range = scale_range
        self.fit = fit
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args.copy() if backend_args else None
        self.objects = self._load_index()
        self.num_pasted = 0
        self.num_skipped = 0

    def _load_index(self) -> List[Tuple[str, str, Tuple[int, int, int, int]]]:
        """(image path, mask path, (x, y, w, h)) of every usable bank object."""
        path = osp.join(self.bank_root, self.index_file)
        if not fileio.exists(path, backend_args=self.backend_args):
            raise FileNotFoundError(
                f'outlier bank index {path} not found; build it with '
                'tools/dataset_converters/coco_outliers.py')
        entries = json.loads(fileio.get_text(path, backend_args=self.backend_args))
        objects = []
        for entry in entries:
            x, y, w, h = (int(v) for v in entry['bbox'])
            if w > 0 and h > 0:
                objects.append((osp.join(self.bank_root, entry['image']),
                                osp.join(self.bank_root, entry['mask']), (x, y, w, h)))
        if not objects:
            raise ValueError(f'outlier bank {path} has no usable object '
                             f'({len(entries)} entries, none with a non-empty box)')
        return objects

    @cache_randomness
    def _sample(self, height: int, width: int) -> Optional[dict]:
        """Draw whether to paste, which object, its size and its top-left corner.

        Returns None for no paste, ``{'index', 'fits': False}`` for an object that does
        not fit (``fit='skip'``), else ``{'index', 'fits', 'size': (h, w), 'top', 'left'}``
        with ``0 <= top <= height - h`` and ``0 <= left <= width - w``, all uniform.
        """
        if np.random.rand() >= self.prob:
            return None
        index = int(np.random.randint(len(self.objects)))
        _, _, (_, _, box_w, box_h) = self.objects[index]
        scale = np.random.uniform(*self.scale_range) if self.scale_range else 1.0
        obj_h, obj_w = max(1, round(box_h * scale)), max(1, round(box_w * scale))
        if obj_h > height or obj_w > width:
            if self.fit == 'skip':
                return dict(index=index, fits=False)
            shrink = min(height / obj_h, width / obj_w)
            obj_h = min(height, max(1, int(obj_h * shrink)))
            obj_w = min(width, max(1, int(obj_w * shrink)))
        # randint's upper bound is exclusive: +1 makes the last fitting position reachable.
        top = int(np.random.randint(0, height - obj_h + 1))
        left = int(np.random.randint(0, width - obj_w + 1))
        return dict(index=index, fits=True, size=(obj_h, obj_w), top=top, left=left)

    def _load_object(self, index: int) -> Tuple[np.ndarray, np.ndarray]:
        """Bank object ``index`` cropped to its box: image (h, w, 3) BGR, mask (h, w) bool."""
        img_path, mask_path, (x, y, w, h) = self.objects[index]
        image = mmcv.imfrombytes(fileio.get(img_path, backend_args=self.backend_args),
                                 flag='color', backend=self.imdecode_backend)
        mask = mmcv.imfrombytes(fileio.get(mask_path, backend_args=self.backend_args),
                                flag='unchanged', backend='pillow')
        if mask.ndim != 2 or mask.shape != image.shape[:2]:
            raise ValueError(f'bank mask {mask_path} {mask.shape} does not match image '
                             f'{img_path} {image.shape}')
        crop = mask[y:y + h, x:x + w] != 0
        if crop.shape != (h, w) or not crop.any():
            raise ValueError(f'bank box {(x, y, w, h)} of {mask_path} is outside the mask or '
                             'empty: rebuild the bank index')
        return image[y:y + h, x:x + w], crop

    def transform(self, results: dict) -> dict:
        img, seg = results['img'], results['gt_seg_map']
        if img.ndim != 3 or seg.shape != img.shape[:2]:
            raise ValueError(f'AnomalyMix needs img (H, W, C) and gt_seg_map (H, W) of the '
                             f'same size, got {img.shape} and {seg.shape}')
        plan = self._sample(*seg.shape)
        if plan is None:
            return results
        if not plan['fits']:
            self.num_skipped += 1
            return results
        obj_img, obj_mask = self._load_object(plan['index'])
        obj_h, obj_w = plan['size']
        if obj_mask.shape != (obj_h, obj_w):
            obj_img = mmcv.imresize(obj_img, (obj_w, obj_h), interpolation='bilinear')
            obj_mask = mmcv.imresize(obj_mask.astype(np.uint8), (obj_w, obj_h),
                                     interpolation='nearest').astype(bool)
        if obj_img.shape[2] != img.shape[2]:
            raise ValueError(f'bank image has {obj_img.shape[2]} channels, frame has '
                             f'{img.shape[2]}')
        rows = slice(plan['top'], plan['top'] + obj_h)
        cols = slice(plan['left'], plan['left'] + obj_w)
        img, seg = img.copy(), seg.copy()  # never write into arrays the caller still holds
        img[rows, cols][obj_mask] = obj_img[obj_mask].astype(img.dtype)
        seg[rows, cols][obj_mask] = self.outlier_index
        results['img'], results['gt_seg_map'] = img, seg
        self.num_pasted += 1
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(bank_root={self.bank_root!r}, '
                f'index_file={self.index_file!r}, num_objects={len(self.objects)}, '
                f'prob={self.prob}, outlier_index={self.outlier_index}, '
                f'scale_range={self.scale_range}, fit={self.fit!r}, '
                f'imdecode_backend={self.imdecode_backend!r})')
