"""Write a miniature COCO 2017 object source in the official instances format.

``annotations/instances_train2017.json`` (images, annotations with polygon segmentations
and uncompressed-RLE ``iscrowd=1`` ones, categories with their real COCO ids and names)
and ``train2017/<image_id:012d>.jpg``. Image roles exercise the outlier-bank builder:

- ``'excluded'``: contains a class that overlaps Cityscapes (person + dog, car alone);
- ``'train'``: a COCO ``train`` plus an elephant (dropped by our default list, kept by
  Meta-OoD's, which leaves ``train`` out);
- ``'small'``: one side below ``min_side``; ``'empty'``: no annotation at all;
- ``'crowd'``: a crowd RLE plus a polygon object; ``'huge'``: an object taller than the
  training frame (``frame_size``), which AnomalyMix must skip or shrink;
- ``'normal'``: 1-3 objects of non-Cityscapes classes, both sides >= ``min_side`` (the
  first one exactly ``min_side`` high, the boundary case).
"""
import json
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Tuple

import numpy as np
from PIL import Image

from .objects import mask_bbox, object_polygons, paint_object, rasterize, uncompressed_rle
from .scene import smooth_noise

# (id, name, supercategory): real COCO 2017 ids.
CATEGORIES = (
    (1, 'person', 'person'), (2, 'bicycle', 'vehicle'), (3, 'car', 'vehicle'),
    (4, 'motorcycle', 'vehicle'), (6, 'bus', 'vehicle'), (7, 'train', 'vehicle'),
    (8, 'truck', 'vehicle'), (10, 'traffic light', 'outdoor'), (13, 'stop sign', 'outdoor'),
    (18, 'dog', 'animal'), (19, 'horse', 'animal'), (22, 'elephant', 'animal'),
    (25, 'giraffe', 'animal'), (28, 'umbrella', 'accessory'), (38, 'kite', 'sports'),
    (88, 'teddy bear', 'indoor'),
)
_CAT_ID = {name: cid for cid, name, _ in CATEGORIES}
_ANIMALS = ('dog', 'horse', 'elephant', 'giraffe')
_KEPT = ('dog', 'horse', 'elephant', 'giraffe', 'umbrella', 'kite', 'teddy bear')
_SPECIAL_ROLES = ('excluded', 'excluded', 'train', 'small', 'empty', 'crowd', 'huge')


class CocoManifest(NamedTuple):
    """What was written: json path and the role of every image id."""
    ann_file: str
    roles: Dict[int, str]


def _image_plan(rng: np.random.Generator, role: str, *, min_side: int,
                frame_size: Tuple[int, int], first_normal: bool) -> Tuple[int, int, List[str]]:
    """(height, width, category names) of one image of the given role."""
    lo, hi = min_side, int(round(1.6 * min_side)) + 1
    h, w = int(rng.integers(lo, hi)), int(rng.integers(lo, hi))
    if role == 'excluded':
        names = ['person', 'dog'] if rng.uniform() < 0.5 else ['car']
    elif role == 'train':
        names = ['train', 'elephant']
    elif role == 'small':
        h, names = min_side - 1, ['dog']
    elif role == 'empty':
        names = []
    elif role == 'crowd':
        names = ['kite', 'umbrella']
    elif role == 'huge':
        h, w = max(h, frame_size[0] + 24), max(w, frame_size[0] + 24)
        names = ['elephant']
    else:
        h = min_side if first_normal else h
        names = list(rng.choice(_KEPT, size=int(rng.integers(1, 4))))
    return h, w, names


def make_coco(root: str, *, num_images: int, min_side: int, frame_size: Tuple[int, int],
              seed: int) -> CocoManifest:
    """Write ``num_images`` images (at least 8) and the instances json under ``root``."""
    if num_images < len(_SPECIAL_ROLES) + 1:
        raise ValueError(f'num_images must be >= {len(_SPECIAL_ROLES) + 1} to cover every '
                         f'image role, got {num_images}')
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    os.makedirs(osp.join(root, 'train2017'), exist_ok=True)
    images, annotations, roles = [], [], {}
    for i in range(num_images):
        rng = np.random.default_rng([seed, 2, i])
        role = _SPECIAL_ROLES[i] if i < len(_SPECIAL_ROLES) else 'normal'
        h, w, names = _image_plan(rng, role, min_side=min_side, frame_size=frame_size,
                                  first_normal=i == len(_SPECIAL_ROLES))
        image_id = 1000 + 37 * i  # sparse ids, like COCO's
        base = rng.uniform(70, 190, 3)
        pixels = base * (1 + 0.25 * smooth_noise(rng, h, w, 5)[..., None])
        pixels = np.clip(pixels + rng.normal(0, 5, pixels.shape), 0, 255).astype(np.uint8)
        for k, name in enumerate(names):
            crowd = role == 'crowd' and k == 0
            if role == 'huge':
                oh, ow = frame_size[0] + 8, 0.6 * w
            else:
                oh, ow = rng.uniform(0.2, 0.6) * h, rng.uniform(0.2, 0.6) * w
            cy, cx = rng.uniform(oh / 2, h - oh / 2), rng.uniform(ow / 2, w - ow / 2)
            kind = 'crowd' if crowd else 'animal' if name in _ANIMALS else 'blob'
            polys = object_polygons(rng, kind, cx=cx, cy=cy, h=oh, w=ow)
            if role == 'huge':
                # A plain box: its mask is exactly oh rows tall, taller than the frame.
                y0 = round(cy - oh / 2)
                polys = [[cx - ow / 2, y0, cx + ow / 2, y0, cx + ow / 2, y0 + oh,
                          cx - ow / 2, y0 + oh]]
            mask = paint_object(rng, pixels, polys, family='coco')
            segmentation = uncompressed_rle(rasterize(polys, h, w)) if crowd else polys
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=_CAT_ID[name],
                segmentation=segmentation, area=float(mask.sum()),
                bbox=[float(v) for v in mask_bbox(mask)], iscrowd=int(crowd)))
        file_name = f'{image_id:012d}.jpg'
        Image.fromarray(pixels).save(osp.join(root, 'train2017', file_name), quality=95)
        images.append(dict(id=image_id, file_name=file_name, height=h, width=w, license=1))
        roles[image_id] = role
    ann_file = osp.join(root, 'annotations', 'instances_train2017.json')
    with open(ann_file, 'w', encoding='utf-8') as f:
        json.dump(dict(
            info=dict(description='mmseg-uem miniature COCO', version='1.0', year=2026),
            licenses=[dict(id=1, name='CC0', url='')],
            images=images, annotations=annotations,
            categories=[dict(id=cid, name=name, supercategory=sup)
                        for cid, name, sup in CATEGORIES]), f)
    return CocoManifest(ann_file, roles)
