"""Fishyscapes Lost & Found validation: Fishyscapes labels on LostAndFound images.

Labels ``fishyscapes_lostandfound/<NNNN>_<scene>_<seq>_<frame>_labels.png`` (0 inlier,
1 anomaly, 255 void; one of the 100 frames has no anomaly); images come from LostAndFound's
``leftImg8bit/{train,test}/<scene>/<scene>_<seq>_<frame>_leftImg8bit.png``. The image name
is ``label_name[5:-10] + 'leftImg8bit.png'``, as in the RbA / UEM loaders.
"""
import os.path as osp
import re
from typing import List, Optional, Sequence

from mmseg.registry import DATASETS

from .ood_base import OoDBaseDataset, Pair, list_files

_LABEL_NAME = re.compile(r'^\d{4}_.+_\d{6}_\d{6}_labels\.png$')


@DATASETS.register_module()
class FishyscapesLaFDataset(OoDBaseDataset):
    """FS LaF val: 100 frames, labels {0, 1, 255} as is.

    Args:
        data_prefix (dict): ``seg_map_path``: the Fishyscapes label folder; ``img_path``:
            LostAndFound's ``leftImg8bit`` folder (holding the split folders).
        img_splits (Sequence[str]): LostAndFound splits searched for each image, in order.
            Defaults to ('train', 'test').
        **kwargs: BaseSegDataset arguments (``data_root``, ``pipeline``, ...).
    """
    RAW_LABEL_VALUES = (0, 1, 255)

    def __init__(self,
                 data_prefix: Optional[dict] = None,
                 img_splits: Sequence[str] = ('train', 'test'),
                 **kwargs) -> None:
        if data_prefix is None:
            data_prefix = dict(img_path='lost_and_found/leftImg8bit',
                           seg_map_path='fishyscapes_lostandfound')
        self.img_splits = tuple(img_splits)
        super().__init__(data_prefix=data_prefix, img_suffix='_leftImg8bit.png',
                         seg_map_suffix='_labels.png', **kwargs)

    def find_pairs(self) -> List[Pair]:
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        pairs = []
        for label in list_files(seg_dir, self.seg_map_suffix):
            if not _LABEL_NAME.match(label):
                raise ValueError(f'{osp.join(seg_dir, label)} is not named like '
                                 '<NNNN>_<scene>_<seq>_<frame>_labels.png')
            image = label[5:-10] + 'leftImg8bit.png'
            scene = image[:-len(self.img_suffix)].rsplit('_', 2)[0]
            candidates = [osp.join(img_dir, split, scene, image) for split in self.img_splits]
            found = [c for c in candidates if osp.isfile(c)]
            if not found:
                raise FileNotFoundError(
                    f'image {image} of label {osp.join(seg_dir, label)} is missing: looked '
                    f'in {img_dir}/{{{",".join(self.img_splits)}}}/{scene}/')
            pairs.append((found[0], osp.join(seg_dir, label)))
        return pairs
