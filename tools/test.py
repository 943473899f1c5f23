"""Test a checkpoint: ``python tools/test.py CONFIG CKPT [--eval AP FPR95 ...]``.

mmsegmentation 1.x's ``tools/test.py`` arguments plus ``--eval``, which picks
the metrics without editing the config (1.x dropped 0.x's ``--eval``).
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import mmseg_uem  # noqa: F401  (registers our modules, allows mmengine checkpoints)
from mmseg_uem.utils.cli import (
    EVAL_METRICS,
    apply_eval_metrics,
    check_checkpoint_file,
    check_dataset_files,
    enable_anomaly_outputs,
    finish_distributed,
    setup_cpu_distributed,
)


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--eval', nargs='+', metavar='METRIC',
        help=f'metrics to compute, any of {list(EVAL_METRICS)}; replaces the '
        "config's test_evaluator")
    parser.add_argument(
        '--work-dir',
        help='the directory to save the file containing evaluation metrics')
    parser.add_argument(
        '--out', help='directory to save the anomaly maps (.npz, float32 scores '
        'and labels) for re-scoring with tools/analysis/score_maps.py')
    parser.add_argument(
        '--show-dir',
        help='directory to save, per image, input | prediction | anomaly heat map')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override some settings in the used config, the key-value pair '
        'in xxx=yyy format will be merged into config file.')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument(
        '--tta', action='store_true',
        help='test time augmentation (flip / multi-scale; averages the anomaly map too)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    if args.eval is not None:
        unknown = [n for n in args.eval if n not in EVAL_METRICS]
        if unknown:
            parser.error(f'unknown --eval metric(s) {unknown}; valid: {list(EVAL_METRICS)}')
    return args


def main():
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    cfg.load_from = args.checkpoint
    if args.eval:
        apply_eval_metrics(cfg, args.eval)
    enable_anomaly_outputs(cfg, show_dir=args.show_dir, out_dir=args.out)

    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError(f'--tta needs `tta_model` and `tta_pipeline` in {args.config}')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model

    check_checkpoint_file(args.checkpoint)
    check_dataset_files(cfg, ['test_dataloader'])
    setup_cpu_distributed(cfg)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
