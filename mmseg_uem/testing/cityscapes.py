"""Write a miniature Cityscapes tree in the official on-disk layout.

``leftImg8bit/<split>/<city>/<city>_<seq:06d>_<frame:06d>_leftImg8bit.png`` and, next to it
under ``gtFine/``, ``_gtFine_labelIds.png``, ``_gtFine_labelTrainIds.png`` (labelIds mapped
through cityscapesscripts' table) and ``_gtFine_color.png``.
"""
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np
from cityscapesscripts.helpers.labels import labels as CS_LABELS
from PIL import Image

from ..utils.labels import IGNORE_INDEX
from .scene import render_street_scene

DEFAULT_CITIES = {'train': ('aachen', 'bochum'), 'val': ('frankfurt',)}


def label_id_luts(ignore_index: int = IGNORE_INDEX) -> Tuple[np.ndarray, np.ndarray]:
    """Lookup tables (256,) uint8 labelId -> trainId and (256, 3) uint8 labelId -> colour.

    Built from cityscapesscripts; trainIds 255 and -1 (license plate) become ``ignore_index``.
    """
    train_lut = np.full(256, ignore_index, np.uint8)
    colour_lut = np.zeros((256, 3), np.uint8)
    for label in CS_LABELS:
        if label.id < 0:
            continue
        if 0 <= label.trainId < 255:
            train_lut[label.id] = label.trainId
        colour_lut[label.id] = label.color
    return train_lut, colour_lut


def _save_png(array: np.ndarray, path: str) -> None:
    Image.fromarray(array).save(path)


def make_cityscapes(root: str, *, size: Tuple[int, int], seed: int,
                    num_per_split: Dict[str, int],
                    cities: Dict[str, Sequence[str]] = DEFAULT_CITIES) -> List[str]:
    """Write ``num_per_split[split]`` frames per split under ``root``; return image paths.

    Frames cycle through the split's cities with sequence numbers 0, 1, ... and frame
    number 19 (the annotated frame of each Cityscapes snippet).
    """
    train_lut, colour_lut = label_id_luts()
    written = []
    for split_index, (split, count) in enumerate(sorted(num_per_split.items())):
        split_cities = cities[split]
        for i in range(count):
            city = split_cities[i % len(split_cities)]
            stem = f'{city}_{i // len(split_cities):06d}_{19:06d}'
            rng = np.random.default_rng([seed, 1, split_index, i])
            scene = render_street_scene(rng, *size)
            img_dir = osp.join(root, 'leftImg8bit', split, city)
            gt_dir = osp.join(root, 'gtFine', split, city)
            os.makedirs(img_dir, exist_ok=True)
            os.makedirs(gt_dir, exist_ok=True)
            img_path = osp.join(img_dir, f'{stem}_leftImg8bit.png')
            _save_png(scene.image, img_path)
            _save_png(scene.label_ids, osp.join(gt_dir, f'{stem}_gtFine_labelIds.png'))
            _save_png(train_lut[scene.label_ids],
                      osp.join(gt_dir, f'{stem}_gtFine_labelTrainIds.png'))
            _save_png(colour_lut[scene.label_ids], osp.join(gt_dir, f'{stem}_gtFine_color.png'))
            written.append(img_path)
    return written
