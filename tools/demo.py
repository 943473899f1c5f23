"""The embedded demo (``make demo``): miniature data -> stage 1 -> stage 2 -> OoD table.

    python tools/demo.py [--work-dir work_dirs/demo]
"""
import argparse

from mmseg_uem.apis.demo import run_demo


def parse_args():
    parser = argparse.ArgumentParser(description='Run the whole method on miniature data')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='where checkpoints, logs, metrics and heat maps go')
    return parser.parse_args()


def main():
    args = parse_args()
    run_demo(args.work_dir)


if __name__ == '__main__':
    main()
