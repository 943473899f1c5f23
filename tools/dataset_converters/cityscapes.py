"""Write Cityscapes ``*_gtFine_labelTrainIds.png`` and the split lists mmseg reads.

Example::

    python tools/dataset_converters/cityscapes.py data/cityscapes --nproc 8

Each ``*_gtFine_labelIds.png`` is mapped pixel-wise through cityscapesscripts' label table
(``helpers/labels.py``: id -> trainId, 255 and -1 -> 255). This gives the same image as
cityscapesscripts' ``createTrainIdLabelImgs`` (which re-draws ``*_polygons.json`` with
trainIds, in the same drawing order as the shipped labelIds) and needs no polygons.
Existing outputs are kept unless ``--overwrite``. Also writes ``train.txt`` / ``val.txt`` /
``test.txt`` (``<city>/<city>_<seq>_<frame>`` per line) like mmseg's converter, so
``CityscapesDataset(ann_file='train.txt', ...)`` can load a split.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import glob
from functools import partial
from multiprocessing import Pool
from typing import List, Tuple

import numpy as np
from cityscapesscripts.helpers.labels import labels as CS_LABELS
from PIL import Image
from tqdm import tqdm

from mmseg_uem.utils.labels import IGNORE_INDEX

LABEL_IDS_SUFFIX = '_gtFine_labelIds.png'
TRAIN_IDS_SUFFIX = '_gtFine_labelTrainIds.png'
IMG_SUFFIX = '_leftImg8bit.png'


def train_id_lut(ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """(256,) uint8 table labelId -> trainId; ids without a train class map to ignore_index."""
    lut = np.full(256, ignore_index, np.uint8)
    for label in CS_LABELS:
        if label.id >= 0 and 0 <= label.trainId < 255:
            lut[label.id] = label.trainId
    return lut


def convert_one(label_ids_path: str, *, lut: np.ndarray, overwrite: bool = False) -> bool:
    """Write the trainIds PNG next to one labelIds PNG; return False if it was kept."""
    out_path = label_ids_path[:-len(LABEL_IDS_SUFFIX)] + TRAIN_IDS_SUFFIX
    if osp.isfile(out_path) and not overwrite:
        return False
    label_ids = np.asarray(Image.open(label_ids_path))
    if label_ids.ndim != 2:
        raise ValueError(f'{label_ids_path} is not a single-channel labelIds image '
                         f'(shape {label_ids.shape})')
    Image.fromarray(lut[label_ids]).save(out_path)
    return True


def convert_cityscapes(root: str, *, gt_dir: str = 'gtFine', nproc: int = 1,
                       overwrite: bool = False) -> Tuple[int, int]:
    """Convert every labelIds PNG under ``root/gt_dir``; return (written, kept)."""
    files = sorted(glob.glob(osp.join(root, gt_dir, '*', '*', '*' + LABEL_IDS_SUFFIX)))
    if not files:
        raise FileNotFoundError(f'no *{LABEL_IDS_SUFFIX} under {osp.join(root, gt_dir)}/'
                                '<split>/<city>/')
    work = partial(convert_one, lut=train_id_lut(), overwrite=overwrite)
    bar = dict(total=len(files), desc='labelTrainIds')
    if nproc > 1:
        with Pool(nproc) as pool:
            done = list(tqdm(pool.imap(work, files, chunksize=16), **bar))
    else:
        done = [work(f) for f in tqdm(files, **bar)]
    return sum(done), len(done) - sum(done)


def write_split_lists(root: str, *, img_dir: str = 'leftImg8bit') -> List[str]:
    """Write ``<split>.txt`` for each split folder of ``root/img_dir``; return their paths."""
    written = []
    for split in ('train', 'val', 'test'):
        images = sorted(glob.glob(osp.join(root, img_dir, split, '*', '*' + IMG_SUFFIX)))
        if not images:
            continue
        names = [osp.relpath(p, osp.join(root, img_dir, split))[:-len(IMG_SUFFIX)]
                 for p in images]
        path = osp.join(root, f'{split}.txt')
        with open(path, 'w', encoding='utf-8') as f:
            f.writelines(name.replace(osp.sep, '/') + '\n' for name in names)
        written.append(path)
    return written


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write Cityscapes labelTrainIds PNGs')
    parser.add_argument('cityscapes_path', help='folder holding leftImg8bit/ and gtFine/')
    parser.add_argument('--gt-dir', default='gtFine')
    parser.add_argument('--nproc', type=int, default=1, help='worker processes')
    parser.add_argument('--overwrite', action='store_true', help='rewrite existing outputs')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    written, kept = convert_cityscapes(args.cityscapes_path, gt_dir=args.gt_dir,
                                       nproc=args.nproc, overwrite=args.overwrite)
    lists = write_split_lists(args.cityscapes_path)
    print(f'labelTrainIds: {written} written, {kept} already present; '
          f'split lists: {", ".join(osp.basename(p) for p in lists)}')


if __name__ == '__main__':
    main()
