"""The embedded demo (``make demo``): miniature data -> stage 1 -> stage 2 -> OoD table.

    python tools/demo.py [--work-dir work_dirs/demo] [--sections core ...]

The sections live in ``tools/demo/`` (an application of ``mmseg_uem``, not part of it).
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
# the demo's sections, tools/demo/ next to this script (also when run through runpy)
sys.path.insert(1, osp.dirname(osp.abspath(__file__)))

import argparse

from demo.sections import SECTIONS, run_demo


def parse_args():
    parser = argparse.ArgumentParser(description='Run the whole method on miniature data')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where data, checkpoints, logs, metrics and heat maps go')
    parser.add_argument(
        '--sections', nargs='+', metavar='NAME', choices=[s.name for s in SECTIONS],
        help='run only these sections (and those they require); default all: '
        + '; '.join(f'{s.name}: {s.help}' for s in SECTIONS))
    return parser.parse_args()


def main():
    args = parse_args()
    run_demo(args.work_dir, args.sections)


if __name__ == '__main__':
    main()
