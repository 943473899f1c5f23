"""The whole miniature data tree: Cityscapes, COCO and the four OoD sets."""
import os.path as osp
from typing import Dict, Tuple

from .cityscapes import make_cityscapes
from .coco import make_coco
from .ood_sets import make_ood_sets

DEFAULT_SIZE = (128, 256)


def make_dataset_tree(out: str, *, size: Tuple[int, int] = DEFAULT_SIZE, seed: int = 0,
                      num_train: int = 6, num_val: int = 2, num_coco: int = 16,
                      coco_min_side: int = 96, num_road_anomaly: int = 3, num_laf: int = 4,
                      num_smiyc_anomaly: int = 3, num_smiyc_obstacle: int = 3,
                      num_smiyc_test: int = 2) -> Dict[str, object]:
    """Write ``out/{cityscapes, coco, RoadAnomaly_jpg, fishyscapes, dataset_AnomalyTrack,
    dataset_ObstacleTrack}``; return what was written (paths and pairs per set).

    ``size`` (H, W) is the Cityscapes / LaF frame size; RoadAnomaly and the obstacle track
    use a 16:9 frame of the same width and the anomaly track alternates between both.
    ``coco_min_side``: most COCO images have both sides >= it (one has exactly it, one
    has a side of ``coco_min_side - 1``): pass it as the bank builder's ``min_size``.
    """
    height, width = size
    if height < 32 or width < 32:
        raise ValueError(f'size must be at least 32x32, got {height}x{width}')
    written = dict(
        cityscapes=make_cityscapes(osp.join(out, 'cityscapes'), size=size, seed=seed,
                                   num_per_split=dict(train=num_train, val=num_val)),
        coco=make_coco(osp.join(out, 'coco'), num_images=num_coco, min_side=coco_min_side,
                       frame_size=size, seed=seed))
    written.update(make_ood_sets(out, size=size, seed=seed, counts=dict(
        road_anomaly=num_road_anomaly, fishyscapes_laf=num_laf,
        smiyc_anomaly=num_smiyc_anomaly, smiyc_obstacle=num_smiyc_obstacle,
        smiyc_test=num_smiyc_test)))
    return written
