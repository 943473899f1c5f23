"""The embedded demo behind ``make demo``: the whole method, end to end, on miniature data.

Steps, each through the same command-line tools a user runs:

1. generate the miniature data (Cityscapes, COCO, RoadAnomaly formats) and the COCO
   outlier bank under ``work_dirs/demo/data``;
2. ``tools/train.py`` stage 1 (``configs/uem/demo/demo_g_stage1.py``) and stage 2
   (``configs/uem/demo/demo_gd.py``);
3. ``tools/test.py`` the stage-2 model on the miniature RoadAnomaly set with the ID, OoD
   and LR scores (``--eval AP FPR95 AUROC``, heat maps of the LR run via ``--show-dir``),
   and both models on the miniature Cityscapes val split (``--eval mIoU``);
4. print the table.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Dict, List, Optional

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join('configs', 'uem', 'demo')
STAGE1_CONFIG = osp.join(CONFIG_DIR, 'demo_g_stage1.py')
STAGE2_CONFIG = osp.join(CONFIG_DIR, 'demo_gd.py')
MIOU_CONFIG = osp.join(CONFIG_DIR, 'demo_gd_test-cityscapes.py')

#: Data sizes: enough frames to learn the procedural scenes in a few hundred steps.
DATA_ARGS = dict(size=(168, 336), seed=0, num_train=48, num_val=6, num_coco=48,
                 coco_min_side=64, num_road_anomaly=10, num_laf=2, num_smiyc_anomaly=2,
                 num_smiyc_obstacle=2, num_smiyc_test=1)


def log(msg: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def make_data(data_root: str) -> None:
    """Generate the miniature data set and the outlier bank (skipped when present)."""
    from mmseg_uem.datasets.coco_outliers import build_outlier_bank
    from mmseg_uem.testing.tree import make_dataset_tree

    stamp = osp.join(data_root, '.complete')
    if osp.isfile(stamp):
        log(f'data: reusing {data_root}')
        return
    log(f'data: generating miniature data under {data_root}')
    make_dataset_tree(data_root, **DATA_ARGS)
    stats = build_outlier_bank(osp.join(data_root, 'coco'), min_size=DATA_ARGS['coco_min_side'],
                               progress=False)
    log(f'data: COCO outlier bank {stats}')
    with open(stamp, 'w') as f:
        f.write('ok\n')


def run_tool(args: List[str], log_file: str) -> None:
    """Run one of ``tools/*.py`` with this interpreter; its output goes to ``log_file``."""
    cmd = [sys.executable] + args
    log('$ ' + ' '.join(cmd[1:]))
    with open(log_file, 'w') as f:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = f.read()[-4000:]
        raise RuntimeError(f'{" ".join(args[:2])} failed (exit {proc.returncode}); '
                           f'log: {log_file}\n{tail}')


def latest_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics json that mmengine writes in ``work_dir/<timestamp>/``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    if not files:
        raise FileNotFoundError(f'no metrics json under {work_dir}')
    with open(files[-1]) as f:
        return json.load(f)


def test(config: str, checkpoint: str, work_dir: str, metrics: List[str],
         extra: Optional[List[str]] = None) -> Dict[str, float]:
    os.makedirs(work_dir, exist_ok=True)
    run_tool(['tools/test.py', config, checkpoint, '--work-dir', work_dir, '--eval', *metrics]
             + (extra or []), osp.join(work_dir, 'test.log'))
    return latest_metrics(work_dir)


def format_table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |'  # noqa: E731
    sep = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
    return '\n'.join([line(header), sep] + [line(r) for r in rows])


def run_demo(work_dir: str = 'work_dirs/demo') -> Dict[str, Dict[str, float]]:
    start = time.time()
    work_dir = osp.join(ROOT, work_dir) if not osp.isabs(work_dir) else work_dir
    # The demo configs read their data from work_dirs/demo/data (relative to the repo).
    data_root = osp.join(ROOT, 'work_dirs', 'demo', 'data')
    make_data(data_root)

    stage1_dir, stage2_dir = osp.join(work_dir, 'stage1'), osp.join(work_dir, 'stage2')
    os.makedirs(stage1_dir, exist_ok=True)
    os.makedirs(stage2_dir, exist_ok=True)
    log('stage 1: tiny ViT + pixel decoder + GMM head on the miniature Cityscapes')
    run_tool(['tools/train.py', STAGE1_CONFIG, '--work-dir', stage1_dir],
             osp.join(stage1_dir, 'train.log'))
    stage1_ckpt = osp.join(stage1_dir, 'iter_500.pth')
    log('stage 2: UEM (G-D: linear UEM head) with AnomalyMix, everything of stage 1 frozen')
    run_tool(['tools/train.py', STAGE2_CONFIG, '--work-dir', stage2_dir,
              '--cfg-options', f'model.stage1_checkpoint={stage1_ckpt}'],
             osp.join(stage2_dir, 'train.log'))
    stage2_ckpt = osp.join(stage2_dir, 'iter_300.pth')

    results = {}
    heatmaps = osp.join(work_dir, 'heatmaps')
    for score in ('ID', 'OoD', 'LLR'):
        extra = ['--cfg-options', f'model.test_cfg.score={score}']
        if score == 'LLR':
            extra = ['--show-dir', heatmaps] + extra
        results[score] = test(STAGE2_CONFIG, stage2_ckpt, osp.join(work_dir, f'test_{score}'),
                              ['AP', 'FPR95', 'AUROC'], extra)
    miou1 = test(STAGE1_CONFIG, stage1_ckpt, osp.join(work_dir, 'miou_stage1'), ['mIoU'])
    miou2 = test(MIOU_CONFIG, stage2_ckpt, osp.join(work_dir, 'miou_stage2'), ['mIoU'])

    names = {'ID': 'ID  (-max_k F_k, stage 1 alone)', 'OoD': 'OoD (O_1 - O_0, UEM alone)',
             'LLR': 'LR  (O_1 - O_0 - max_k F_k)'}
    rows = [[names[s], *(f'{results[s][f"ood/{m}"]:.2f}' for m in ('AP', 'FPR95', 'AUROC'))]
            for s in ('ID', 'OoD', 'LLR')]
    print()
    print('Miniature RoadAnomaly-format set (pixel metrics in %):')
    print(format_table(rows, ['score', 'AP', 'FPR95', 'AUROC']))
    print()
    print(format_table([['after stage 1', f'{miou1["mIoU"]:.2f}'],
                        ['after stage 2', f'{miou2["mIoU"]:.2f}']],
                       ['inlier mIoU (miniature Cityscapes val)', 'mIoU']))
    print()
    print(f'heat maps (input | prediction | LLR): {heatmaps}')
    print(f'wall time: {time.time() - start:.0f} s')
    results['mIoU'] = {'stage1': miou1['mIoU'], 'stage2': miou2['mIoU']}
    with open(osp.join(work_dir, 'demo_results.json'), 'w') as f:
        json.dump(results, f, indent=2)
    return results
