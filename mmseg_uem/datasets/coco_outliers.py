"""Build the COCO outlier bank that :class:`AnomalyMix` pastes from.

Follows Meta-OoD's preparation (robin-chan/meta-ood ``preparation/
prepare_coco_segmentation.py``), used by PEBAL, RbA, Mask2Anomaly and UEM:

- source: COCO 2017 train, ``annotations/instances_train2017.json`` (not the panoptic json);
- drop every image that contains any instance of an excluded class;
- keep images whose height and width are both >= ``min_size`` (480); no minimum object size;
- one mask per image: the union of all its instance masks, crowd RLEs included, with value
  ``mask_value`` (254), saved as ``annotations/ood_seg_train2017/<image_id:012d>.png``.

One deliberate difference: the default excluded list also holds ``train``, a Cityscapes
class that Meta-OoD leaves out (pass :data:`META_OOD_EXCLUDED_CLASSES` for their list).
We also write an index (json list of ``{image, mask, bbox, image_id}``, paths relative to
the COCO root, ``bbox = [x, y, w, h]`` of the mask) so the transform never scans folders.
"""
import contextlib
import io
import json
import os
import os.path as osp
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from PIL import Image

from ..utils.labels import OUTLIER_INDEX

META_OOD_EXCLUDED_CLASSES = ('person', 'bicycle', 'car', 'motorcycle', 'bus', 'truck',
                             'traffic light', 'stop sign')
DEFAULT_EXCLUDED_CLASSES = META_OOD_EXCLUDED_CLASSES + ('train',)
DEFAULT_MASK_DIR = 'annotations/ood_seg_train2017'
DEFAULT_INDEX_FILE = 'annotations/ood_seg_train2017_index.json'
_MASK_NAME = re.compile(r'\d{12}\.png')  # the masks this module writes


@dataclass
class BankStats:
    """Image counts of one bank build; every json image lands in exactly one bucket.

    An image with an excluded class counts as ``excluded`` even if it is also too small.
    """
    num_images: int = 0
    excluded: int = 0
    too_small: int = 0
    without_objects: int = 0
    written: int = 0
    reused: int = 0
    removed: int = 0
    num_annotations: int = 0
    num_crowd: int = 0

    @property
    def bank_size(self) -> int:
        """Masks in the bank (written now plus found from an earlier, interrupted run)."""
        return self.written + self.reused

    def __str__(self) -> str:
        return (f'{self.num_images} images: {self.excluded} with an excluded class, '
                f'{self.too_small} too small, {self.without_objects} without objects; '
                f'bank = {self.bank_size} masks ({self.written} written, {self.reused} reused) '
                f'from {self.num_annotations} annotations ({self.num_crowd} crowd); '
                f'{self.removed} stale masks of earlier runs removed')


def load_instances_json(ann_file: str) -> dict:
    """Load a COCO *instances* json; raise a clear error for panoptic or other jsons."""
    if not osp.isfile(ann_file):
        raise FileNotFoundError(f'COCO annotation file not found: {ann_file}')
    try:
        with open(ann_file, encoding='utf-8') as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise ValueError(f'{ann_file} is not valid json (truncated or corrupt? {err}); '
                         'download or unpack it again') from err
    missing = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(data, dict) or k not in data]
    if missing:
        raise ValueError(f'{ann_file} is not a COCO instances json: missing {missing}')
    anns = data['annotations']
    if any('segments_info' in a for a in anns[:1000]):
        raise ValueError(
            f'{ann_file} is a COCO panoptic json (its annotations carry "segments_info"); '
            'the outlier bank needs the instances json, annotations/instances_train2017.json')
    if any('segmentation' not in a or 'image_id' not in a for a in anns[:1000]):
        raise ValueError(f'{ann_file} is not a COCO instances json: annotations lack '
                         '"segmentation" / "image_id"')
    return data


def _index_coco(data: dict):
    """A pycocotools ``COCO`` index of ``data`` (imported here: registering the plugin
    needs neither pycocotools nor tqdm)."""
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress lines
        coco.createIndex()
    return coco


def _mask_bbox(mask: np.ndarray) -> List[int]:
    ys, xs = np.nonzero(mask)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1)]


def _read_existing(path: str, height: int, width: int, mask_value: int) -> Optional[np.ndarray]:
    """A mask from an earlier run, or None if absent, unreadable, of the wrong size or
    written with another ``mask_value`` (the masks hold exactly {0, mask_value})."""
    if not osp.isfile(path):
        return None
    try:
        mask = np.asarray(Image.open(path))
    except OSError:
        return None
    if mask.shape != (height, width) or int(mask.max()) != mask_value:
        return None
    return mask


def _remove_stale_masks(mask_root: str, kept: Sequence[str]) -> int:
    """Delete the ``<image_id:012d>.png`` masks under ``mask_root`` that are not ``kept``
    (left by a run with another ``min_size`` or class list); return how many."""
    kept = {osp.basename(k) for k in kept}
    stale = [n for n in os.listdir(mask_root)
             if _MASK_NAME.fullmatch(n) and n not in kept]
    for name in stale:
        os.remove(osp.join(mask_root, name))
    return len(stale)


def build_outlier_bank(coco_root: str, *,
                       ann_file: str = 'annotations/instances_train2017.json',
                       img_dir: str = 'train2017',
                       mask_dir: str = DEFAULT_MASK_DIR,
                       index_file: str = DEFAULT_INDEX_FILE,
                       excluded_classes: Sequence[str] = DEFAULT_EXCLUDED_CLASSES,
                       min_size: int = 480,
                       mask_value: int = OUTLIER_INDEX,
                       overwrite: bool = False,
                       progress: bool = True) -> BankStats:
    """Write the union masks and the index under ``coco_root``; return the counts.

    Resumable: a mask already on disk with the image's size and ``mask_value`` is reused,
    not recomputed (one of another value or size is rewritten; ``overwrite=True`` rewrites
    all). Masks in ``mask_dir`` of images that this run does not keep (an earlier run with
    another ``min_size`` or ``excluded_classes``) are deleted, so the folder holds exactly
    the indexed bank. All paths but ``coco_root`` are relative to it.

    Raises:
        ValueError: the json is not an instances json, an excluded class is unknown, or
            no image is left with an object.
        FileNotFoundError: the json or a kept image file is missing.
    """
    if not 0 < mask_value < 256:
        raise ValueError(f'mask_value must be in 1..255, got {mask_value}')
    ann_path = osp.join(coco_root, ann_file)
    coco = _index_coco(load_instances_json(ann_path))
    name_to_id: Dict[str, int] = {c['name']: c['id'] for c in coco.dataset['categories']}
    unknown = sorted(set(excluded_classes) - set(name_to_id))
    if unknown:
        raise ValueError(f'excluded classes {unknown} are not categories of {ann_path}')
    excluded_ids = {name_to_id[n] for n in excluded_classes}

    from tqdm import tqdm

    os.makedirs(osp.join(coco_root, mask_dir), exist_ok=True)
    stats, index = BankStats(num_images=len(coco.imgs)), []
    for image_id in tqdm(sorted(coco.imgs), desc='COCO outlier masks', disable=not progress):
        info = coco.imgs[image_id]
        anns = coco.imgToAnns.get(image_id, [])
        if any(a['category_id'] in excluded_ids for a in anns):
            stats.excluded += 1
            continue
        height, width = int(info['height']), int(info['width'])
        if min(height, width) < min_size:
            stats.too_small += 1
            continue
        mask_rel = f'{mask_dir}/{image_id:012d}.png'
        mask_path = osp.join(coco_root, mask_rel)
        mask = None if overwrite else _read_existing(mask_path, height, width, mask_value)
        if mask is not None:
            stats.reused += 1
        else:
            mask = np.zeros((height, width), np.uint8)
            for ann in anns:  # crowd RLEs included, as in Meta-OoD
                np.maximum(mask, coco.annToMask(ann) * np.uint8(mask_value), out=mask)
            if not mask.any():
                stats.without_objects += 1
                continue
            tmp = f'{mask_path}.tmp'
            Image.fromarray(mask).save(tmp, format='PNG')
            os.replace(tmp, mask_path)  # atomic: an interrupted run leaves no half mask
            stats.written += 1
        image_rel = f'{img_dir}/{info["file_name"]}'
        if not osp.isfile(osp.join(coco_root, image_rel)):
            raise FileNotFoundError(f'COCO image {osp.join(coco_root, image_rel)} (id '
                                    f'{image_id}) is listed in {ann_path} but missing')
        stats.num_annotations += len(anns)
        stats.num_crowd += sum(int(a.get('iscrowd', 0)) for a in anns)
        index.append(dict(image=image_rel, mask=mask_rel, bbox=_mask_bbox(mask),
                          image_id=image_id))
    if not index:
        raise ValueError(f'no usable outlier object in {ann_path} ({stats}); check '
                         'min_size and excluded_classes')
    stats.removed = _remove_stale_masks(osp.join(coco_root, mask_dir),
                                        [item['mask'] for item in index])
    index_path = osp.join(coco_root, index_file)
    with open(f'{index_path}.tmp', 'w', encoding='utf-8') as f:
        json.dump(index, f)
    os.replace(f'{index_path}.tmp', index_path)
    return stats
