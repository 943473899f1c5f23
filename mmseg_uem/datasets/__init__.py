from . import transforms  # noqa: F401  (registers AnomalyMix)
from .coco_outliers import (
    DEFAULT_EXCLUDED_CLASSES,
    META_OOD_EXCLUDED_CLASSES,
    BankStats,
    build_outlier_bank,
    load_instances_json,
)
from .fishyscapes import FishyscapesLaFDataset
from .lost_and_found import LostAndFoundDataset
from .ood_base import LoadOoDAnnotations, OoDBaseDataset
from .road_anomaly import RoadAnomalyDataset
from .smiyc import SMIYCDataset

__all__ = [
    'BankStats', 'DEFAULT_EXCLUDED_CLASSES', 'FishyscapesLaFDataset', 'LoadOoDAnnotations',
    'LostAndFoundDataset', 'META_OOD_EXCLUDED_CLASSES', 'OoDBaseDataset',
    'RoadAnomalyDataset', 'SMIYCDataset',
    'build_outlier_bank', 'load_instances_json',
]
