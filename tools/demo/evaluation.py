"""Demo section ``evaluation``: the core section's stage-2 model under the whole evaluation.

It needs the ``core`` section (its stage-2 G-D checkpoint and the miniature data). Every step
runs the command-line tools a user runs:

1. ``tools/test.py --out`` on the miniature RoadAnomaly set with the LR and the ID score, each
   with every labelled metric (:data:`METRICS`: pooled, image-wise, SMIYC components, recall
   by anomaly size) and the runtime line; the LR run also writes its anomaly instances in the
   OoDIS layout (``--out-format oodis``, at its own TPR-95% threshold);
2. ``tools/test.py --threshold <run>/operating_point.json`` on the miniature Cityscapes val
   split as a set without anomalies (``demo_gd_test-cityscapes-inliers.py``): how many normal
   frames raise a false alarm at each score's own operating point (FA-img, FA-px);
3. ``tools/analysis/report.py`` on both runs, each with its false alarms on those normal
   frames (``--normal``): one HTML page, timed;
4. one table of it all.

The runtime is the model's forward time on this machine's CPU over the frames left after the
warm-up batches: a demo figure, not a benchmark (``tools/benchmarks/`` has those).
"""
import json
import math
import os.path as osp
import re
import time
from typing import Dict

from mmseg_uem.evaluation.functional import (
    COMPONENT_METRICS,
    FALSE_ALARM_METRICS,
    IMAGE_METRICS,
    PIXEL_METRICS,
    SIZE_METRICS,
)

from .context import CONFIG_DIR, DemoContext, format_table, last_checkpoint, log
from .core import CORE

#: the runs of the section and the report: score -> the run's name in the table and report
SCORES = {'LLR': 'LR', 'ID': 'ID'}
#: every metric of a labelled OoD set (tools/test.py --eval), in the table's order
METRICS = PIXEL_METRICS + IMAGE_METRICS + COMPONENT_METRICS + SIZE_METRICS
#: the false-alarm metrics of the all-inlier run (FA-px comes with FA-img)
FALSE_ALARMS = FALSE_ALARM_METRICS + ('FA-px', )
#: the OoDIS dataset folder of the LR run's instances
OODIS_FOLDER = 'demo_road_anomaly'
INLIERS_CONFIG = osp.join(CONFIG_DIR, 'demo_gd_test-cityscapes-inliers.py')
#: the line tools/analysis/report.py ends with
_REPORT_LINE = re.compile(r'report: (\S+) \(([\d.]+) MB, (\d+) runs, ([\d.]+) s\)')


def _cell(value) -> str:
    return 'nan' if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f'{value:.2f}'


def run_evaluation(ctx: DemoContext) -> dict:
    """Test the core stage-2 model with every metric, its false alarms, OoDIS instances and
    the report; print the table; return ``{score: {metric: value, 'runtime': {...}},
    'report': {...}, 'oodis': folder}``."""
    checkpoint = last_checkpoint(ctx.path(CORE.folder('stage2')))

    def test(config: str, out: str, metrics, extra) -> dict:
        """``tools/test.py config --eval metrics --out out``; the ``run.json`` it wrote."""
        ctx.test(config, checkpoint, out, list(metrics), ['--out', out] + extra)
        with open(osp.join(out, 'run.json')) as f:
            return json.load(f)

    results: Dict[str, dict] = {}
    runs, normal = {}, {}
    for score, name in SCORES.items():
        out = ctx.folder(f'eval_{score}')
        extra = ['--cfg-options', f'model.test_cfg.score={score}']
        if score == 'LLR':
            # RoadAnomaly (2019) is no OoDIS benchmark set: the folder is named here
            extra += ['--out-format', 'oodis', '--oodis-dataset', OODIS_FOLDER]
        log(f'evaluation: {name} score, every metric of a labelled set'
            + (' and the OoDIS instances' if score == 'LLR' else ''))
        record = test(CORE.stage2_config, out, METRICS, extra)
        results[score] = {m: record['metrics'][f'ood/{m}'] for m in METRICS}
        results[score]['runtime'] = record['runtime']
        results[score]['counts'] = record['counts']
        point = osp.join(out, 'operating_point.json')
        log(f'evaluation: {name} false alarms on the miniature Cityscapes val frames at its '
            f'operating point ({point})')
        fa_dir = ctx.folder(f'eval_FA_{score}')
        fa = test(INLIERS_CONFIG, fa_dir, FALSE_ALARM_METRICS,
                  ['--threshold', point, '--cfg-options', f'model.test_cfg.score={score}'])
        results[score].update({m: fa['metrics'][f'ood/{m}'] for m in FALSE_ALARMS})
        results[score]['counts'].update(fa['counts'])
        runs[name], normal[name] = out, fa_dir

    report_dir = ctx.folder('report')
    log('evaluation: the HTML report of both runs')
    start = time.perf_counter()
    report_log = osp.join(report_dir, 'report.log')
    ctx.run_tool(['tools/analysis/report.py', *(f'{n}={p}' for n, p in runs.items()),
                  *(a for n, p in normal.items() for a in ('--normal', f'{n}={p}')),
                  '--out', report_dir], report_log)
    wall = time.perf_counter() - start
    with open(report_log) as f:
        match = _REPORT_LINE.search(f.read())
    if match is None:
        raise RuntimeError(f'tools/analysis/report.py printed no "report: ..." line: {report_log}')
    results['report'] = dict(path=match.group(1), megabytes=float(match.group(2)),
                             runs=int(match.group(3)), build_s=float(match.group(4)),
                             wall_s=round(wall, 1))
    results['oodis'] = osp.join(runs['LR'], 'oodis', OODIS_FOLDER)

    print()
    print('Core stage-2 model (G-D), miniature RoadAnomaly-format set: every metric (in %); '
          'false alarms on the miniature Cityscapes val frames at each score\'s TPR-95% '
          'threshold; forward time on this CPU:')
    header = ['score', *METRICS, *FALSE_ALARMS, 'img/s', 'ms/image']
    rows = [[name, *(_cell(results[s][m]) for m in METRICS + FALSE_ALARMS),
             f'{results[s]["runtime"]["images_per_s"]:.1f}',
             f'{results[s]["runtime"]["ms_per_image"]:.1f}'] for s, name in SCORES.items()]
    print(format_table(rows, header))
    counts, runtime = results['LLR']['counts'], results['LLR']['runtime']
    print(f'image-wise: the mean over the {counts["images_with_anomaly_and_inlier"]} frames '
          'with anomaly and inlier pixels; recall by size: GT components of '
          f'{counts["size_bins"]} = {counts["gt_small_medium_large"]} (nan: none of that size); '
          f'FA: {counts["inlier_frames"]} frames without anomalies; runtime: '
          f'{runtime["images"]} images after {runtime["warmup_batches"]} warm-up batches, input '
          f'{runtime["input_size"]}, {runtime["device"]}')
    print()
    report = results['report']
    print(f'report: {report["path"]} ({report["megabytes"]:.1f} MB; built in '
          f'{report["build_s"]:.1f} s, {report["wall_s"]:.1f} s with the tool\'s start)')
    print(f'OoDIS instances (LR, at its TPR-95% threshold): {results["oodis"]}')
    return results
