"""RoadAnomaly (Lis et al., ICCV 2019) in its distributed layout ``RoadAnomaly_jpg``.

``frame_list.json`` (a json list of image names), ``frames/<name>.jpg`` and
``frames/<name>.labels/labels_semantic.png`` with raw values 0 background and 2 anomaly;
there is no void, the whole image is the region of interest. 2 is mapped to 1.
"""
import json
import os.path as osp
from typing import List, Optional

from mmseg.registry import DATASETS

from .ood_base import OoDBaseDataset, Pair, list_files


@DATASETS.register_module()
class RoadAnomalyDataset(OoDBaseDataset):
    """RoadAnomaly: 60 frames, labels {0, 2} -> {0, 1}.

    Args:
        ann_file (str): The frame list, relative to ``data_root``.
            Defaults to 'frame_list.json'.
        data_prefix (dict): ``img_path`` / ``seg_map_path`` folders (both 'frames').
        **kwargs: BaseSegDataset arguments (``data_root``, ``pipeline``, ...).
    """
    RAW_LABEL_VALUES = (0, 2)
    LABEL_MAP = {2: 1}

    def __init__(self,
                 ann_file: str = 'frame_list.json',
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='frames', seg_map_path='frames')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, img_suffix='.jpg',
                         seg_map_suffix='labels_semantic.png', **kwargs)

    def find_pairs(self) -> List[Pair]:
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        list_files(img_dir, self.img_suffix)  # a clear error for a missing / empty folder
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'RoadAnomaly frame list {self.ann_file} is missing')
        with open(self.ann_file, encoding='utf-8') as f:
            names = json.load(f)
        if not isinstance(names, list) or not names:
            raise ValueError(f'{self.ann_file} must be a non-empty json list of image names')
        return [(osp.join(img_dir, name),
                 osp.join(seg_dir, osp.splitext(name)[0] + '.labels', self.seg_map_suffix))
                for name in names]
