"""Test a checkpoint: ``python tools/test.py CONFIG CKPT [--eval AP FPR95 ...]``.

mmsegmentation 1.x's ``tools/test.py`` arguments plus ``--eval``, which picks
the metrics without editing the config (1.x dropped 0.x's ``--eval``), and the outputs
of an anomaly segmentor: ``--out`` (maps, or SegmentMeIfYouCan submission files with
``--out-format smiyc``, or OoDIS anomaly instances with ``--out-format oodis``),
``--show-dir`` pictures. A split without labels (SMIYC test) is
predicted with ``--out`` / ``--show-dir``; its metrics are skipped with a note.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import argparse
import json
import os.path as osp

import mmseg_uem  # noqa: F401  (registers our modules, allows mmengine checkpoints)
from mmseg_uem.apis.cli import (
    EVAL_METRICS,
    add_common_args,
    apply_eval_metrics,
    check_eval_metrics,
    check_picture_args,
    enable_anomaly_outputs,
    enable_runtime_log,
    load_cli_config,
    predict_without_labels,
    request_operating_point,
    run_cli,
    set_false_alarm_threshold,
)
from mmseg_uem.apis.launch import build_runner, finish_distributed
from mmseg_uem.apis.preflight import (
    check_checkpoint_fits,
    check_dataset_files,
    check_iou_metric_data,
)
from mmseg_uem.evaluation.operating_point import FILE_NAME as OPERATING_POINT_FILE
from mmseg_uem.utils.checkpoint import check_checkpoint_file
from mmseg_uem.utils.config import evaluator_list


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
        'and labels) for re-scoring with tools/analysis/score_maps.py; with --out-format '
        'smiyc, the SegmentMeIfYouCan submission files (DIR/anomaly_p/...) too')
    parser.add_argument(
        '--out-format', choices=['npz', 'smiyc', 'oodis'], default='npz',
        help='npz: one .npz per image in --out; smiyc: also the benchmark files '
        '<out>/anomaly_p/<method>/<dataset>/<frame id>.hdf5 (the npz go to <out>/maps); '
        'oodis: also anomaly instances (connected components of score >= --threshold, '
        'default this run\'s operating_point.json) in the OoDIS layout '
        '<out>/oodis/<dataset>/<frame>_instanceIds_pred.txt + masks, and instances.json '
        '(box, area, score, mask file) beside them (the npz go to <out>/maps/<dataset>)')
    parser.add_argument(
        '--oodis-dataset', help='--out-format oodis: the dataset folder (default: from the '
        'test dataset: fishyscapes, roadanomaly or roadobstacle)')
    parser.add_argument(
        '--instance-min-size', type=int, default=None, metavar='PX',
        help='--out-format oodis: smallest instance in pixels (default: the OoDMetric\'s '
        'min_pred_size, else 1)')
    parser.add_argument(
        '--instance-score', choices=['mean', 'max'], default='mean',
        help='--out-format oodis: an instance\'s score, the mean or max of its pixels')
    parser.add_argument('--method-name', help='--out-format smiyc: the method folder name')
    parser.add_argument(
        '--smiyc-dataset', help="--out-format smiyc: the benchmark's dataset name "
        '(default: from the test dataset, e.g. AnomalyTrack-all)')
    parser.add_argument(
        '--show-dir', help='directory to save, per image, input | prediction | [ground '
        "truth] | anomaly heat map (switches drawing on; the config's hook settings stay)")
    parser.add_argument(
        '--score-range', nargs=2, type=float, metavar=('LO', 'HI'),
        help='--show-dir: one fixed colour scale for every heat map (default: per image)')
    parser.add_argument(
        '--threshold', help='a number or an operating_point.json written by an earlier run: '
        'the threshold of FA-img (default: this run\'s own at TPR 95%%), of the instances of '
        '--out-format oodis and, with --show-dir, of the pixels drawn as flagged (score >= '
        'this)')
    parser.add_argument(
        '--tta', action='store_true',
        help='test time augmentation (flip / multi-scale): F and O are averaged over the '
        'views, then the anomaly score is formed once')
    parser.add_argument(
        '--allow-checkpoint-mismatch', action='store_true',
        help='test even if the checkpoint has missing, unexpected or mis-shaped keys for '
        'the model of the config (those tensors keep their initial values; by default an '
        'error before any image is scored)')
    add_common_args(parser)
    args = parser.parse_args()
    try:
        check_eval_metrics(args.eval or [])
        # --threshold also sets FA-img and the instances: checked in main()
        check_picture_args(drawing=bool(args.show_dir), score_range=args.score_range)
    except ValueError as err:
        parser.error(str(err))
    if args.out_format == 'smiyc' and not (args.out and args.method_name):
        parser.error('--out-format smiyc needs --out DIR and --method-name NAME')
    if args.out_format == 'oodis' and not args.out:
        parser.error('--out-format oodis needs --out DIR')
    return args


def main():
    args = parse_args()
    cfg = load_cli_config(args)

    cfg.load_from = args.checkpoint
    if args.eval:
        apply_eval_metrics(cfg, args.eval)
    check_checkpoint_file(args.checkpoint)
    pairs = check_dataset_files(cfg, ['test_dataloader'])
    predict_without_labels(cfg, [img for img, seg in pairs if seg is None],
                           num_images=len(pairs), predicting=bool(args.out or args.show_dir))
    check_iou_metric_data(cfg)
    map_dir = args.out
    if args.out_format == 'smiyc':
        from mmseg_uem.evaluation.smiyc_submission import benchmark_dataset_name

        dataset_name = args.smiyc_dataset or benchmark_dataset_name(
            cfg.test_dataloader.dataset)
        map_dir = osp.join(args.out, 'maps')
    elif args.out_format == 'oodis':
        from mmseg_uem.evaluation.instances import oodis_folder

        oodis_name = args.oodis_dataset or oodis_folder(cfg.test_dataloader.dataset)
        map_dir = osp.join(args.out, 'maps', oodis_name)
        min_size = args.instance_min_size
        if min_size is None:
            min_size = next((e.get('min_pred_size', 500) for e in evaluator_list(
                cfg.get('test_evaluator')) if e.get('type') == 'OoDMetric'), 1)
    scores_false_alarms = set_false_alarm_threshold(cfg, args.threshold)
    if args.threshold and not (args.show_dir or scores_false_alarms
                               or args.out_format == 'oodis'):
        raise SystemExit('--threshold sets the FA-img threshold, the instances of '
                         '--out-format oodis and the flagged pixels of --show-dir pictures: '
                         'add --show-dir, --eval ... FA-img or --out-format oodis')
    enable_anomaly_outputs(cfg, show_dir=args.show_dir, out_dir=map_dir,
                           score_range=args.score_range,
                           threshold=args.threshold if args.show_dir else None)
    enable_runtime_log(cfg)
    point_file = osp.join(args.out or cfg.work_dir, OPERATING_POINT_FILE)
    writes_point = request_operating_point(cfg, point_file)

    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError(f'--tta needs `tta_model` and `tta_pipeline` in {args.config}')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model

    runner = build_runner(cfg)
    check_checkpoint_fits(runner.model, args.checkpoint, config=args.config,
                          strict=not args.allow_checkpoint_mismatch)
    metrics = runner.test()
    if runner.rank == 0:
        model = getattr(runner.model, 'module', runner.model)  # DDP / TTA wrapper
        if writes_point and osp.isfile(point_file):
            _add_context(point_file, args, score=getattr(model, 'score', None))
        if args.out:
            _write_run_record(osp.join(args.out, RUN_RECORD), args, cfg, runner, metrics,
                              score=getattr(model, 'score', None), map_dir=map_dir)
        if args.out_format == 'smiyc':
            _write_smiyc(map_dir, args.out, args.method_name, dataset_name)
        if args.out_format == 'oodis':
            _write_oodis(map_dir, args.out, oodis_name, threshold=args.threshold,
                         point_file=point_file if writes_point else None,
                         min_size=min_size, score_reduce=args.instance_score)
    finish_distributed()


#: what a run was: tools/analysis/report.py reads it next to the maps
RUN_RECORD = 'run.json'


def _write_run_record(path: str, args, cfg, runner, metrics, *, score, map_dir) -> None:
    """``<out>/run.json``: config, checkpoint, score, dataset, date, metrics, what the OoD
    metric counted (``OoDMetric.info``), runtime."""
    import datetime

    from mmseg_uem.engine.hooks import RuntimeHook
    from mmseg_uem.evaluation.metrics import OoDMetric

    timing = next((h.summary for h in runner.hooks if isinstance(h, RuntimeHook)), None)
    # what the OoD metric counted (components per size bin, images used, FA frames, ...)
    counts = next((m.info for m in runner.test_evaluator.metrics
                   if isinstance(m, OoDMetric)), None)
    dataset = cfg.test_dataloader.dataset
    record = dict(config=args.config, checkpoint=args.checkpoint, score=score,
                  dataset=dataset.get('type'), split=dataset.get('split'),
                  data_root=dataset.get('data_root'), maps=osp.relpath(map_dir, args.out),
                  date=datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec='seconds'),
                  tta=bool(args.tta), metrics=dict(metrics or {}), counts=counts,
                  runtime=timing)
    with open(path, 'w') as f:
        json.dump(record, f, indent=2, default=float)


def _add_context(path: str, args, *, score) -> None:
    """Record in the operating point file what it was measured with."""
    with open(path) as f:
        record = json.load(f)
    record.update(score=score, config=args.config, checkpoint=args.checkpoint,
                  tta=bool(args.tta))
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)


def _write_oodis(map_dir: str, out_dir: str, folder: str, *, threshold, point_file,
                 min_size: int, score_reduce: str) -> None:
    from mmseg_uem.evaluation.instances import write_oodis
    from mmseg_uem.evaluation.io import iter_anomaly_maps
    from mmseg_uem.evaluation.operating_point import resolve_threshold

    if threshold is None:
        if not (point_file and osp.isfile(point_file)):
            raise SystemExit('--out-format oodis: no threshold. Give --threshold X | '
                             'operating_point.json (a split without labels has no operating '
                             'point of its own), or --eval FPR95 on a labelled split')
        threshold = point_file
    value, name = resolve_threshold(threshold)
    result = write_oodis(iter_anomaly_maps(map_dir), osp.join(out_dir, 'oodis'),
                         folder=folder, threshold=value, min_size=min_size,
                         score_reduce=score_reduce)
    print(f'OoDIS: {result["instances"]} instances of {result["images"]} images in '
          f'{result["folder"]} ({result["score"] or "unnamed"} score >= {value:.6g}'
          f'{f" ({name})" if name else ""}, at least '
          f'{min_size} px, scored by their {score_reduce}; {result["empty"]} images without '
          f'one get an empty mask); boxes and areas in {result["json"]}')
    print(f'zip for upload: (cd {osp.join(out_dir, "oodis")} && zip -r ../oodis.zip .)')


def _write_smiyc(map_dir: str, out_dir: str, method: str, dataset: str) -> None:
    from mmseg_uem.evaluation.smiyc_submission import write_submission

    result = write_submission(map_dir, out_dir, method=method, dataset=dataset)
    folder = osp.join(out_dir, 'anomaly_p', method, dataset)
    print(f'SegmentMeIfYouCan: {len(result["paths"])} files in {folder} (score '
          f'{result["score"] or "unnamed"}; float16, rank-keeping transform of the score)')
    if result['metrics']:
        for name, values in result['metrics'].items():
            print(f'  {name} maps: AP {100 * values["AP"]:.2f}  '
                  f'FPR95 {100 * values["FPR95"]:.2f}')
    print(f'zip for upload: (cd {out_dir} && zip -r {method}.zip anomaly_p)')


if __name__ == '__main__':
    run_cli(main)
