"""Write the whole miniature data tree (Cityscapes, COCO and four OoD sets).

Usage::

    python -m mmseg_uem.testing.make_data --out DIR [--size H W] [--seed S]
        [--num-train N] [--num-val N] [--num-coco N] [--coco-min-side PX]
        [--num-road-anomaly N] [--num-laf N] [--num-smiyc-anomaly N]
        [--num-smiyc-obstacle N] [--num-smiyc-test N]

Everything is a deterministic function of the arguments. The tree matches the base
dataset configs' ``data_root`` names, so ``DIR`` can stand in for ``data/``.
"""
import argparse
from typing import Optional, Sequence

from .tree import DEFAULT_SIZE, make_dataset_tree


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write the miniature mmseg-uem data tree')
    parser.add_argument('--out', required=True, help='output folder (like data/)')
    parser.add_argument('--size', type=int, nargs=2, default=DEFAULT_SIZE, metavar=('H', 'W'),
                        help='Cityscapes frame size (default: %(default)s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=6)
    parser.add_argument('--num-val', type=int, default=2)
    parser.add_argument('--num-coco', type=int, default=16)
    parser.add_argument('--coco-min-side', type=int, default=96)
    parser.add_argument('--num-road-anomaly', type=int, default=3)
    parser.add_argument('--num-laf', type=int, default=4)
    parser.add_argument('--num-smiyc-anomaly', type=int, default=3)
    parser.add_argument('--num-smiyc-obstacle', type=int, default=3)
    parser.add_argument('--num-smiyc-test', type=int, default=2)
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    written = make_dataset_tree(
        args.out, size=tuple(args.size), seed=args.seed, num_train=args.num_train,
        num_val=args.num_val, num_coco=args.num_coco, coco_min_side=args.coco_min_side,
        num_road_anomaly=args.num_road_anomaly, num_laf=args.num_laf,
        num_smiyc_anomaly=args.num_smiyc_anomaly, num_smiyc_obstacle=args.num_smiyc_obstacle,
        num_smiyc_test=args.num_smiyc_test)
    print(f'wrote miniature data under {args.out}:')
    print(f'  cityscapes: {len(written["cityscapes"])} frames')
    print(f'  coco: {len(written["coco"].roles)} images')
    for name in ('road_anomaly', 'fishyscapes_laf', 'smiyc_anomaly', 'smiyc_obstacle'):
        print(f'  {name}: {len(written[name])} labelled frames')


if __name__ == '__main__':
    main()
