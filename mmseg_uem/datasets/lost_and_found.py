"""LostAndFound (Pinggera et al. 2016) test / train as the SMIYC benchmark tooling reads it.

Facts from SegmentMeIfYouCan/road-anomaly-benchmark ``road_anomaly_benchmark/datasets/
tracks.py: DatasetLostAndFound`` (read, not copied):

- layout: ``leftImg8bit/<split>/<NN>_<scene>/<fid>_leftImg8bit.png`` (the tool also accepts
  .webp / .jpg) and ``gtCoarse/<split>/<NN>_<scene>/<fid>_gtCoarse_labelIds.png``, with
  ``<fid> = <NN>_<scene>_<seq:06d>_<frame:06d>``;
- labels: LAF label 0 -> void (255), 1 (free space, the road) -> inlier, 2..200 (objects)
  -> anomaly, anything else -> void: the region of interest is the labelled road;
- frames sorted by fid; ``LostAndFound-test`` keeps all 1,203 test frames (train: 1,036);
  ``-testValid`` drops the 17 frames at indices 17, 37, 55, 72, 91, 110, 129, 153, 174, 197,
  218, 353, 490, 618, 686, 792, 793 of that sorted list (their labels are all 0), 1,186
  left (train: indices 44, 67, 88, 109, 131, 614, 1,030 left); ``-testNoKnown`` further
  drops the frames with known object classes (children: ``15_Rechbergstr_Deckenpfronn``,
  bicycles: ``01_Hanns_Klemm_Str_45_000006``, ``..._000007``, ``10_Schlossberg_9_000004``),
  1,043 left. The benchmark checks these counts.

Indices only mean something on the complete split, so a subset other than 'all' refuses a
folder with another number of frames; 'all' warns about it.
"""
import logging
import os
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.logging import print_log
from mmseg.registry import DATASETS

from .ood_base import OoDBaseDataset, Pair

#: frames of the complete splits
FULL_LENGTH = {'test': 1203, 'train': 1036}
#: indices (in the fid-sorted full split) of the frames without labels
INVALID_INDICES = {
    'test': (17, 37, 55, 72, 91, 110, 129, 153, 174, 197, 218, 353, 490, 618, 686, 792, 793),
    'train': (44, 67, 88, 109, 131, 614),
}
#: fid prefixes of frames with known classes (people, bicycles), dropped by 'noKnown'
KNOWN_OBJECT_PREFIXES = ('15_Rechbergstr_Deckenpfronn', '01_Hanns_Klemm_Str_45_000006',
                         '01_Hanns_Klemm_Str_45_000007', '10_Schlossberg_9_000004')
#: the benchmark's frame counts per (split, subset)
EXPECTED_LENGTH = {('test', 'all'): 1203, ('test', 'valid'): 1186, ('test', 'noKnown'): 1043,
                   ('train', 'all'): 1036, ('train', 'valid'): 1030}
#: the benchmark's names of the subsets
BENCHMARK_NAMES = {('test', 'all'): 'LostAndFound-test',
                   ('test', 'valid'): 'LostAndFound-testValid',
                   ('test', 'noKnown'): 'LostAndFound-testNoKnown',
                   ('train', 'all'): 'LostAndFound-train',
                   ('train', 'valid'): 'LostAndFound-trainValid'}
_FID = re.compile(r'^(\d{2})_(.+)_(\d{6})_(\d{6})$')
_IMG_SUFFIXES = ('_leftImg8bit.png', '_leftImg8bit.webp', '_leftImg8bit.jpg')


def laf_label_map() -> Dict[int, int]:
    """LAF labelIds -> {0 inlier, 1 anomaly, 255 void} (the benchmark's rule)."""
    table = {v: 255 for v in range(256)}
    table[1] = 0
    table.update({v: 1 for v in range(2, 201)})
    return {k: v for k, v in table.items() if k != v}


def select_frames(fids: Sequence[str], *, split: str, subset: str) -> List[str]:
    """The benchmark's frames of ``split`` / ``subset`` among all fids of the split."""
    fids = sorted(fids)
    if subset == 'all':
        return fids
    if len(fids) != FULL_LENGTH[split]:
        raise ValueError(
            f'LostAndFound {split} subset {subset!r} drops frames by their index in the '
            f'complete {split} split of {FULL_LENGTH[split]} frames, but {len(fids)} were '
            "found: download the whole split (or use subset='all')")
    invalid = set(INVALID_INDICES[split])
    kept = [f for i, f in enumerate(fids) if i not in invalid]
    if subset == 'noKnown':
        kept = [f for f in kept if not f.startswith(KNOWN_OBJECT_PREFIXES)]
    return kept


@DATASETS.register_module()
class LostAndFoundDataset(OoDBaseDataset):
    """LostAndFound frames with the benchmark's label conversion and subsets.

    Args:
        split (str): 'test' (default) or 'train'.
        subset (str): 'all' (LostAndFound-test, 1,203 frames), 'valid' (without the 17
            unlabelled frames, 1,186) or 'noKnown' (LostAndFound-testNoKnown, 1,043; test
            only).
        data_prefix (dict): ``img_path`` 'leftImg8bit', ``seg_map_path`` 'gtCoarse' (the
            split folder is added).
        **kwargs: BaseSegDataset arguments (``data_root``, ``pipeline``, ...).
    """
    RAW_LABEL_VALUES = tuple(range(256))
    LABEL_MAP = laf_label_map()

    def __init__(self, split: str = 'test', subset: str = 'all',
                 data_prefix: Optional[dict] = None, **kwargs) -> None:
        if split not in FULL_LENGTH:
            raise ValueError(f"split must be 'test' or 'train', got {split!r}")
        if (split, subset) not in EXPECTED_LENGTH:
            raise ValueError(f'subset must be one of '
                             f'{sorted(s for sp, s in EXPECTED_LENGTH if sp == split)} for '
                             f'the {split} split, got {subset!r}')
        self.split, self.subset = split, subset
        if data_prefix is None:
            data_prefix = dict(img_path='leftImg8bit', seg_map_path='gtCoarse')
        super().__init__(data_prefix=data_prefix, img_suffix='_leftImg8bit.png',
                         seg_map_suffix='_gtCoarse_labelIds.png', **kwargs)

    def _images(self) -> Dict[str, Tuple[str, str]]:
        """fid -> (scene folder, image path) of every frame of the split."""
        root = osp.join(self.data_prefix['img_path'], self.split)
        if not osp.isdir(root):
            raise FileNotFoundError(f'LostAndFound image folder {root} does not exist')
        found: Dict[str, Tuple[str, str]] = {}
        for scene in sorted(os.listdir(root)):
            if scene.startswith('.') or not osp.isdir(osp.join(root, scene)):
                continue
            for name in sorted(os.listdir(osp.join(root, scene))):
                suffix = next((s for s in _IMG_SUFFIXES if name.endswith(s)), None)
                if suffix is None or name.startswith('.'):
                    continue
                fid = name[:-len(suffix)]
                if not _FID.match(fid) or not fid.startswith(scene):
                    raise ValueError(f'{osp.join(root, scene, name)} is not named '
                                     '<NN>_<scene>_<seq>_<frame>_leftImg8bit.* in its scene '
                                     'folder')
                found[fid] = (scene, osp.join(root, scene, name))
        if not found:
            raise FileNotFoundError(f'no *_leftImg8bit.{{png,webp,jpg}} frames in {root}/*/')
        return found

    def find_pairs(self) -> List[Pair]:
        images = self._images()
        fids = select_frames(list(images), split=self.split, subset=self.subset)
        expected = EXPECTED_LENGTH[(self.split, self.subset)]
        if len(fids) != expected:
            print_log(f'{BENCHMARK_NAMES[(self.split, self.subset)]}: {len(fids)} frames, '
                      f'the benchmark has {expected}', logger='current', level=logging.WARNING)
        seg_root = osp.join(self.data_prefix['seg_map_path'], self.split)
        return [(images[f][1], osp.join(seg_root, images[f][0], f + self.seg_map_suffix))
                for f in fids]
