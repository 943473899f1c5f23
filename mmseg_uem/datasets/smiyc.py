"""SegmentMeIfYouCan: the anomaly track (RoadAnomaly21) and obstacle track (RoadObstacle21).

``dataset_AnomalyTrack/images/<fid>.jpg`` and ``dataset_ObstacleTrack/images/<fid>.webp``;
only the validation frames (``validation*``: 10 and 30) have public labels,
``labels_masks/<fid>_labels_semantic.png`` (the ``*_color.png`` pictures beside them are
ignored). Anomaly track: 0 inlier, 1 anomaly, 255 void. Obstacle track: 0 road,
1 obstacle, 255 off-road, so the region of interest is the road. The test frames' labels
are hidden: numbers on them come only from the benchmark server, so they are never scored
as if all-inlier (RbA's loader did that; a user got AP 0.06, NazirNayal8/RbA#3).
"""
import os.path as osp
from typing import List, Optional

from mmseg.registry import DATASETS

from .ood_base import OoDBaseDataset, Pair, list_files

_IMG_SUFFIX = {'anomaly': '.jpg', 'obstacle': '.webp'}


@DATASETS.register_module()
class SMIYCDataset(OoDBaseDataset):
    """SMIYC validation frames (labels {0, 1, 255} as is), or unlabelled test frames.

    Args:
        track (str): 'anomaly' (RoadAnomaly21) or 'obstacle' (RoadObstacle21).
        split (str): 'validation' (default, labelled, scorable), 'test' (every other
            frame, for predictions only: loading its annotations raises) or 'all' (both, in
            name order: what a SegmentMeIfYouCan submission holds, e.g. AnomalyTrack-all).
        img_suffix (str, optional): Defaults to '.jpg' (anomaly) / '.webp' (obstacle).
        data_prefix (dict): ``img_path`` 'images', ``seg_map_path`` 'labels_masks'.
        **kwargs: BaseSegDataset arguments (``data_root``, ``pipeline``, ...).
    """
    RAW_LABEL_VALUES = (0, 1, 255)

    def __init__(self,
                 track: str = 'anomaly',
                 split: str = 'validation',
                 img_suffix: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='images', seg_map_path='labels_masks')
        if track not in _IMG_SUFFIX:
            raise ValueError(f"track must be 'anomaly' or 'obstacle', got {track!r}")
        if split not in ('validation', 'test', 'all'):
            raise ValueError(f"split must be 'validation', 'test' or 'all', got {split!r}")
        self.track, self.split = track, split
        super().__init__(data_prefix=data_prefix,
                         img_suffix=img_suffix or _IMG_SUFFIX[track],
                         seg_map_suffix='_labels_semantic.png', **kwargs)

    def find_pairs(self) -> List[Pair]:
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        stems = [n[:-len(self.img_suffix)] for n in list_files(img_dir, self.img_suffix)]
        wanted = [s for s in stems if self.split == 'all'
                  or s.startswith('validation') == (self.split == 'validation')]
        if not wanted:
            raise FileNotFoundError(f'no {self.split} frames (*{self.img_suffix}) in folder '
                                    f'{img_dir}')
        # only the validation frames have public labels
        return [(osp.join(img_dir, s + self.img_suffix),
                 osp.join(seg_dir, s + self.seg_map_suffix)
                 if s.startswith('validation') else None) for s in wanted]
