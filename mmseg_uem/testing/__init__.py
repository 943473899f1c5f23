"""Miniature, deterministic stand-ins for every dataset the project reads.

Real on-disk formats (Cityscapes, COCO instances json, RoadAnomaly, Fishyscapes LaF,
SMIYC), so the real loaders and converters run on them in tests and smoke runs. Needs
only numpy, OpenCV, Pillow, pycocotools and cityscapesscripts (these modules import no
mmcv / mmseg).

Not imported here (they build mmseg objects): ``models`` (the model configs of the tests
and benchmarks), ``stock_models`` (tiny stock mmseg segmentors from mmseg's primitives)
and ``batches`` (synthetic training batches).
"""
from .cityscapes import label_id_luts, make_cityscapes
from .coco import CATEGORIES, make_coco
from .objects import foreign_texture, object_polygons, rasterize, uncompressed_rle
from .ood_sets import (
    anomaly_scene,
    make_fishyscapes_laf,
    make_ood_sets,
    make_road_anomaly,
    make_smiyc_anomaly,
    make_smiyc_obstacle,
)
from .scene import LABEL_IDS, StreetScene, render_street_scene
from .tree import DEFAULT_SIZE, make_dataset_tree

__all__ = [
    'CATEGORIES', 'DEFAULT_SIZE', 'LABEL_IDS', 'StreetScene', 'anomaly_scene', 'foreign_texture',
    'label_id_luts', 'make_cityscapes', 'make_coco', 'make_dataset_tree', 'make_fishyscapes_laf',
    'make_ood_sets', 'make_road_anomaly', 'make_smiyc_anomaly', 'make_smiyc_obstacle',
    'object_polygons', 'rasterize', 'render_street_scene', 'uncompressed_rle',
]
