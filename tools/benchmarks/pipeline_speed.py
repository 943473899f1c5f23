"""Images/s of the Cityscapes training pipeline with and without AnomalyMix.

A benchmark, not a test. It generates miniature Cityscapes-format frames at the chosen
size and a COCO-format outlier bank (nothing is downloaded), then times mmseg's dataset
+ the train pipeline of ``configs/_base_/datasets/cityscapes_anomalymix.py`` (AnomalyMix
with p = 1 and p = 0.2 and without it) in this process, single-threaded like one
dataloader worker::

    python tools/benchmarks/pipeline_speed.py [--size 1024 2048] [--num-frames 8]
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import copy
import tempfile
import time

import cv2
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import DATASETS

import mmseg_uem  # noqa: F401
from mmseg_uem.datasets.coco_outliers import build_outlier_bank
from mmseg_uem.testing.cityscapes import make_cityscapes
from mmseg_uem.testing.coco import make_coco

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size', type=int, nargs=2, default=(1024, 2048), metavar=('H', 'W'))
    parser.add_argument('--num-frames', type=int, default=8)
    parser.add_argument('--repeats', type=int, default=3, help='passes over the frames')
    return parser.parse_args()


def time_pipeline(dataset_cfg: dict, repeats: int) -> float:
    dataset = DATASETS.build(dataset_cfg)
    dataset[0]  # warm-up (file cache, lazy init)
    start = time.perf_counter()
    n = 0
    for _ in range(repeats):
        for i in range(len(dataset)):
            dataset[i]
            n += 1
    return n / (time.perf_counter() - start)


def main():
    args = parse_args()
    cv2.setNumThreads(1)
    init_default_scope('mmseg')
    height, width = args.size
    with tempfile.TemporaryDirectory() as tmp:
        make_cityscapes(osp.join(tmp, 'cityscapes'), size=(height, width), seed=0,
                        num_per_split=dict(train=args.num_frames))
        min_side = max(32, height // 4)
        make_coco(osp.join(tmp, 'coco'), num_images=24, min_side=min_side,
                  frame_size=(height, width), seed=0)
        build_outlier_bank(osp.join(tmp, 'coco'), min_size=min_side, progress=False)

        cfg = Config.fromfile(osp.join(ROOT, 'configs/_base_/datasets/cityscapes_anomalymix.py'))
        base = cfg.train_dataloader.dataset.to_dict()
        base['data_root'] = osp.join(tmp, 'cityscapes')
        rows = []
        for name, prob in (('without AnomalyMix', None), ('AnomalyMix p=0.2', 0.2),
                           ('AnomalyMix p=1.0', 1.0)):
            ds = copy.deepcopy(base)
            pipeline = []
            for t in ds['pipeline']:
                if t['type'] == 'AnomalyMix':
                    if prob is None:
                        continue
                    t = dict(t, bank_root=osp.join(tmp, 'coco'), prob=prob)
                pipeline.append(t)
            ds['pipeline'] = pipeline
            rows.append((name, time_pipeline(ds, args.repeats)))
    print(f'train pipeline of cityscapes_anomalymix.py on {height}x{width} frames, '
          f'1 process, cv2 1 thread:')
    print('| pipeline | images/s |\n|---|---|')
    for name, rate in rows:
        print(f'| {name} | {rate:.2f} |')


if __name__ == '__main__':
    main()
