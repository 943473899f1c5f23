"""SegmentMeIfYouCan: the anomaly track (RoadAnomaly21) and obstacle track (RoadObstacle21).

``dataset_AnomalyTrack/images/<fid>.jpg`` and ``dataset_ObstacleTrack/images/<fid>.webp``;
only the validation frames (``validation*``: 10 and 30) have public labels,
``labels_masks/<fid>_labels_semantic.png`` (the ``*_color.png`` pictures beside them are
ignored). Anomaly track: 0 inlier, 1 anomaly, 255 void. Obstacle track: 0 road,
1 obstacle, 255 off-road, so the region of interest is the road. The test frames' labels
are hidden: numbers on them come only from the benchmark server, so they are never scored
as if all-inlier (RbA's loader did that; a user got AP 0.06, NazirNayal8/RbA#3).

Obstacle-track subsets, as the benchmark tooling selects them (SegmentMeIfYouCan/
road-anomaly-benchmark ``road_anomaly_benchmark/datasets/tracks.py: DatasetObstacleTrack``,
read for these facts): a frame's scene is its fid up to the first ``_``;
``ObstacleTrack-test`` (327 frames, the leaderboard split) = the scenes curvy-street,
one-way-street, gravel, greyasphalt, motorway, paving, darkasphalt, darkasphalt2;
``-night`` (30) = driveway; ``-snowstorm`` (55) = snowstorm1, snowstorm2; ``-noNight`` (382) =
test + snowstorm. (The tool's scene list for noNight also names 'validation', added with the
validation frames; with them it would hold 412 frames and fail its own count of 382, so we
follow the count.) The test, night and snowstorm labels are hidden: predictions only.
"""
import logging
import os.path as osp
from typing import List, Optional

from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .ood_base import OoDBaseDataset, Pair, list_files

_IMG_SUFFIX = {'anomaly': '.jpg', 'obstacle': '.webp'}
#: the benchmark's obstacle-track scenes per subset, and its frame counts
OBSTACLE_TEST_SCENES = frozenset({'curvy-street', 'one-way-street', 'gravel', 'greyasphalt',
                                  'motorway', 'paving', 'darkasphalt', 'darkasphalt2'})
OBSTACLE_SCENES = {
    'test': OBSTACLE_TEST_SCENES,
    'night': frozenset({'driveway'}),
    'snowstorm': frozenset({'snowstorm1', 'snowstorm2'}),
    'noNight': OBSTACLE_TEST_SCENES | {'snowstorm1', 'snowstorm2'},
}
OBSTACLE_COUNTS = {'test': 327, 'night': 30, 'snowstorm': 55, 'noNight': 382, 'validation': 30}
ALL_OBSTACLE_SCENES = frozenset().union(*OBSTACLE_SCENES.values()) | {'validation'}


@DATASETS.register_module()
class SMIYCDataset(OoDBaseDataset):
    """SMIYC validation frames (labels {0, 1, 255} as is), or unlabelled test frames.

    Args:
        track (str): 'anomaly' (RoadAnomaly21) or 'obstacle' (RoadObstacle21).
        split (str): 'validation' (default, labelled, scorable), 'test' (anomaly track:
            every other frame; obstacle track: the benchmark's 327-frame test scenes; for
            predictions only: loading its annotations raises), 'all' (every frame, in name
            order: what a SegmentMeIfYouCan submission holds, e.g. AnomalyTrack-all) or, for
            the obstacle track, 'night', 'snowstorm', 'noNight' (module doc).
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
        splits = ('validation', 'test', 'all') + (
            ('night', 'snowstorm', 'noNight') if track == 'obstacle' else ())
        if split not in splits:
            raise ValueError(f'split of the {track} track must be one of {splits}, got '
                             f'{split!r}')
        self.track, self.split = track, split
        super().__init__(data_prefix=data_prefix,
                         img_suffix=img_suffix or _IMG_SUFFIX[track],
                         seg_map_suffix='_labels_semantic.png', **kwargs)

    def find_pairs(self) -> List[Pair]:
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        stems = [n[:-len(self.img_suffix)] for n in list_files(img_dir, self.img_suffix)]
        if self.track == 'obstacle' and self.split in OBSTACLE_SCENES:
            wanted = self._obstacle_subset(stems, img_dir)
        else:
            wanted = [s for s in stems if self.split == 'all'
                      or s.startswith('validation') == (self.split == 'validation')]
        if not wanted:
            raise FileNotFoundError(f'no {self.split} frames (*{self.img_suffix}) in folder '
                                    f'{img_dir}')
        if self.track == 'obstacle' and len(wanted) != OBSTACLE_COUNTS.get(self.split, -1) \
                and self.split != 'all':
            print_log(f'ObstacleTrack-{self.split}: {len(wanted)} frames, the benchmark has '
                      f'{OBSTACLE_COUNTS[self.split]}', logger='current', level=logging.WARNING)
        # only the validation frames have public labels
        return [(osp.join(img_dir, s + self.img_suffix),
                 osp.join(seg_dir, s + self.seg_map_suffix)
                 if s.startswith('validation') else None) for s in wanted]

    def _obstacle_subset(self, stems: List[str], img_dir: str) -> List[str]:
        """The frames of an obstacle-track subset, by scene (module doc)."""
        unknown = sorted({s.split('_')[0] for s in stems} - ALL_OBSTACLE_SCENES)
        if unknown:
            raise ValueError(f'{img_dir} holds frames of scenes {unknown} that are not in the '
                             f'benchmark\'s obstacle-track scene list '
                             f'{sorted(ALL_OBSTACLE_SCENES)}: cannot tell their subset')
        return [s for s in stems if s.split('_')[0] in OBSTACLE_SCENES[self.split]]
