"""Test a checkpoint: ``python tools/test.py CONFIG CKPT [--eval AP FPR95 ...]``.

mmsegmentation 1.x's ``tools/test.py`` arguments plus ``--eval``, which picks
the metrics without editing the config (1.x dropped 0.x's ``--eval``).
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse

import mmseg_uem  # noqa: F401  (registers our modules, allows mmengine checkpoints)
from mmseg_uem.apis.cli import (
    EVAL_METRICS,
    add_common_args,
    apply_eval_metrics,
    enable_anomaly_outputs,
    load_cli_config,
)
from mmseg_uem.apis.launch import build_runner, finish_distributed
from mmseg_uem.apis.preflight import (
    check_checkpoint_file,
    check_checkpoint_fits,
    check_dataset_files,
    check_iou_metric_data,
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
        '--out', help='directory to save the anomaly maps (.npz, float32 scores '
        'and labels) for re-scoring with tools/analysis/score_maps.py')
    parser.add_argument(
        '--show-dir',
        help='directory to save, per image, input | prediction | anomaly heat map')
    parser.add_argument(
        '--tta', action='store_true',
        help='test time augmentation (flip / multi-scale; averages the anomaly map too)')
    parser.add_argument(
        '--allow-checkpoint-mismatch', action='store_true',
        help='test even if the checkpoint has missing, unexpected or mis-shaped keys for '
        'the model of the config (those tensors keep their initial values; by default an '
        'error before any image is scored)')
    add_common_args(parser)
    args = parser.parse_args()
    if args.eval is not None:
        unknown = [n for n in args.eval if n not in EVAL_METRICS]
        if unknown:
            parser.error(f'unknown --eval metric(s) {unknown}; valid: {list(EVAL_METRICS)}')
    return args


def main():
    args = parse_args()
    cfg = load_cli_config(args)

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
    check_iou_metric_data(cfg)
    runner = build_runner(cfg)
    check_checkpoint_fits(runner.model, args.checkpoint, config=args.config,
                          strict=not args.allow_checkpoint_mismatch)
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
