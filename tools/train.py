"""Train a segmentor: ``python tools/train.py CONFIG [--work-dir DIR] [--resume] [--amp]``.

Same arguments as mmsegmentation 1.x's ``tools/train.py``.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse
import logging

from mmengine.logging import print_log

import mmseg_uem  # noqa: F401  (registers our modules, allows mmengine checkpoints)
from mmseg_uem.apis.cli import add_common_args, load_cli_config, run_cli
from mmseg_uem.apis.launch import build_runner, finish_distributed
from mmseg_uem.apis.preflight import check_amp_device, check_dataset_files
from mmseg_uem.models.segmentors.stage1 import check_stage1_checkpoint, stage1_info


def parse_args():
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', action='store_true', default=False,
        help='resume from the latest checkpoint in the work_dir automatically')
    parser.add_argument(
        '--amp', action='store_true', default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--stage1-info', action='store_true',
        help='print "STAGE1<TAB>stage-1 config<TAB>model.stage1_checkpoint<TAB>its work dir'
        '<TAB>the checkpoint found there or -" of this stage-2 config (with --cfg-options '
        'applied) and exit; used by tools/train_two_stage.sh')
    add_common_args(parser)
    args = parser.parse_args()
    return args


def main():
    args = parse_args()
    cfg = load_cli_config(args)
    if args.stage1_info:
        print(stage1_info(cfg, config=args.config))
        return

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.type
        if optim_wrapper == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.',
                      logger='current', level=logging.WARNING)
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    cfg.resume = args.resume
    check_amp_device(cfg)
    check_stage1_checkpoint(cfg)
    check_dataset_files(cfg, ['train_dataloader', 'val_dataloader'])
    runner = build_runner(cfg)
    runner.train()
    finish_distributed()


if __name__ == '__main__':
    run_cli(main)
