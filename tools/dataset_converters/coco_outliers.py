"""Build the COCO outlier bank for AnomalyMix (Meta-OoD's preparation, plus an index).

Example::

    python tools/dataset_converters/coco_outliers.py data/coco
    python tools/dataset_converters/coco_outliers.py data/coco --min-size 96 \\
        --exclude person bicycle car motorcycle bus truck "traffic light" "stop sign"

Writes ``<coco>/annotations/ood_seg_train2017/<image_id:012d>.png`` (union of the
instance masks, value 254) and ``<coco>/annotations/ood_seg_train2017_index.json``.
Re-running resumes: masks already written with the same --mask-value are reused (others
are rewritten, all of them with --overwrite), and masks of images this run does not keep
(an earlier run with another --min-size or --exclude) are removed.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse

from mmseg_uem.datasets.coco_outliers import (
    DEFAULT_EXCLUDED_CLASSES,
    DEFAULT_INDEX_FILE,
    DEFAULT_MASK_DIR,
    build_outlier_bank,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Build the COCO outlier bank for AnomalyMix')
    parser.add_argument('coco_root', help='COCO folder with annotations/ and train2017/')
    parser.add_argument('--ann-file', default='annotations/instances_train2017.json',
                        help='instances json, relative to coco_root (not the panoptic one)')
    parser.add_argument('--img-dir', default='train2017')
    parser.add_argument('--mask-dir', default=DEFAULT_MASK_DIR)
    parser.add_argument('--index-file', default=DEFAULT_INDEX_FILE)
    parser.add_argument('--exclude', nargs='+', default=list(DEFAULT_EXCLUDED_CLASSES),
                        help='drop images with any of these classes (default: Meta-OoD list '
                        'plus "train", a Cityscapes class Meta-OoD keeps)')
    parser.add_argument('--min-size', type=int, default=480,
                        help='minimum image height and width (default: %(default)s)')
    parser.add_argument('--mask-value', type=int, default=254)
    parser.add_argument('--overwrite', action='store_true',
                        help='recompute every mask instead of reusing those on disk')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    stats = build_outlier_bank(
        args.coco_root, ann_file=args.ann_file, img_dir=args.img_dir, mask_dir=args.mask_dir,
        index_file=args.index_file, excluded_classes=args.exclude, min_size=args.min_size,
        mask_value=args.mask_value, overwrite=args.overwrite)
    print(stats)


if __name__ == '__main__':
    main()
