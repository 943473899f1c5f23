"""The embedded demo behind ``make demo``: the whole method, end to end, on miniature data.

The demo is an ordered list of named sections (:data:`SECTIONS`); ``tools/demo.py``
runs all of them, ``--sections NAME ...`` some (with the sections they require). Every
section runs the same command-line tools a user runs, on the miniature data generated
first under ``<work_dir>/data``:

- ``core``: ``tools/train.py`` stage 1 (``configs/uem/demo/demo_g_stage1.py``) and stage 2
  (``configs/uem/demo/demo_gd.py``); ``tools/test.py`` the stage-2 model on the miniature
  RoadAnomaly set with the ID, OoD and LR scores (``--eval AP FPR95 AUROC``, heat maps of the
  LR run via ``--show-dir``) and both models on the miniature Cityscapes val split
  (``--eval mIoU``); prints the table.
- ``table4`` (:mod:`.demo_table4`, needs ``core``): one D network, then UEM, RbA and PEBAL
  outlier supervision from it; OoD metrics with each one's score and mIoU before / after.
- ``stock``: a UEM on a stock mmseg segmentor (:mod:`mmseg_uem.apis.demo_stock`): mmseg's
  DeepLabV3+ trained as mmseg trains it, a D-D UEM on its frozen checkpoint, the stock
  model's MSP / MaxLogit / Energy against the UEM's scores, mIoU before and after.

A section is ``DemoSection(name, help, run, requires)``: ``run(ctx)`` takes the
:class:`DemoContext`, prints its table and returns its numbers (a json-able dict, stored in
``<work_dir>/demo_results.json`` under the section's name). To add one, write its ``run``
and append it to :data:`SECTIONS`.

The demo configs read their data from ``demo_root``, which defaults to
``work_dirs/demo/data/`` and is taken from the environment variable :data:`DATA_ENV` when set
(mmengine's ``{{$VAR:default}}`` substitution): the demo sets it to ``<work_dir>/data/``.
"""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..visualization import panel_titles
from .demo_stock import run_stock
from .demo_table4 import run_table4

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join('configs', 'uem', 'demo')
STAGE1_CONFIG = osp.join(CONFIG_DIR, 'demo_g_stage1.py')
STAGE2_CONFIG = osp.join(CONFIG_DIR, 'demo_gd.py')
MIOU_CONFIG = osp.join(CONFIG_DIR, 'demo_gd_test-cityscapes.py')
#: environment variable holding the data root of the demo configs (with a trailing '/')
DATA_ENV = 'UEM_DEMO_DATA'

#: Data sizes: enough frames to learn the procedural scenes in a few hundred steps.
DATA_ARGS = dict(size=(168, 336), seed=0, num_train=48, num_val=6, num_coco=48,
                 coco_min_side=64, num_road_anomaly=10, num_laf=2, num_smiyc_anomaly=2,
                 num_smiyc_obstacle=2, num_smiyc_test=1)

#: an mmengine training log line: iteration, total and the summed loss
_TRAIN_LINE = re.compile(r'Iter\(train\) \[\s*(\d+)/(\d+)\].*?\seta: (\S+).*?\sloss: (\S+)')


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


def format_table(rows: List[List[str]], header: List[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: '| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |'  # noqa: E731
    sep = '|' + '|'.join('-' * (w + 2) for w in widths) + '|'
    return '\n'.join([line(header), sep] + [line(r) for r in rows])


class DemoContext:
    """What the sections share: folders, the tool runner and the results so far.

    Args:
        work_dir: absolute folder of checkpoints, logs, metrics and pictures.
        data_root: absolute folder of the miniature data.
    """

    def __init__(self, work_dir: str, data_root: str) -> None:
        self.work_dir = work_dir
        self.data_root = data_root
        self.results: Dict[str, dict] = {}
        self.env = dict(os.environ, **{DATA_ENV: data_root.rstrip('/') + '/'})

    def path(self, *parts: str) -> str:
        """A file path under the work dir (its folder created)."""
        path = osp.join(self.work_dir, *parts)
        os.makedirs(osp.dirname(path), exist_ok=True)
        return path

    def folder(self, *parts: str) -> str:
        """A folder under the work dir (created)."""
        path = osp.join(self.work_dir, *parts)
        os.makedirs(path, exist_ok=True)
        return path

    def run_tool(self, args: List[str], log_file: str, *, label: str = '') -> None:
        """Run one of ``tools/*.py`` with this interpreter, its output to ``log_file``.

        Training progress (iteration, loss, eta at the config's logging interval) is printed
        as it comes; a failure raises with the tail of the log."""
        cmd = [sys.executable] + args
        log('$ ' + ' '.join(cmd[1:]))
        log(f'  log: {log_file}')
        with open(log_file, 'w') as f:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1)
            for line in proc.stdout:
                f.write(line)
                match = _TRAIN_LINE.search(line)
                if match:
                    it, total, eta, loss = match.groups()
                    log(f'  {label}iter {it}/{total}  loss {loss}  eta {eta}')
            proc.wait()
        if proc.returncode != 0:
            with open(log_file) as f:
                tail = f.read()[-4000:]
            raise RuntimeError(f'{" ".join(args[:2])} failed (exit {proc.returncode}); '
                               f'log: {log_file}\n{tail}')

    def train(self, config: str, work_dir: str, extra: Optional[List[str]] = None, *,
              label: str = '') -> None:
        os.makedirs(work_dir, exist_ok=True)
        self.run_tool(['tools/train.py', config, '--work-dir', work_dir] + (extra or []),
                      osp.join(work_dir, 'train.log'), label=label)

    def test(self, config: str, checkpoint: str, work_dir: str, metrics: List[str],
             extra: Optional[List[str]] = None) -> Dict[str, float]:
        """``tools/test.py --eval metrics``; returns the metrics json it wrote."""
        os.makedirs(work_dir, exist_ok=True)
        self.run_tool(['tools/test.py', config, checkpoint, '--work-dir', work_dir,
                       '--eval', *metrics] + (extra or []), osp.join(work_dir, 'test.log'))
        return latest_metrics(work_dir)


def latest_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics json that mmengine writes in ``work_dir/<timestamp>/``."""
    files = sorted(glob.glob(osp.join(work_dir, '*', '*.json')))
    if not files:
        raise FileNotFoundError(f'no metrics json under {work_dir}')
    with open(files[-1]) as f:
        return json.load(f)


@dataclass(frozen=True)
class DemoSection:
    """One part of the demo: ``run(ctx)`` prints its table and returns its numbers."""
    name: str
    help: str
    run: Callable[[DemoContext], dict]
    requires: Tuple[str, ...] = ()


#: the core section's checkpoints, relative to the work dir (the demo configs' lengths)
STAGE1_CKPT = osp.join('stage1', 'iter_500.pth')
STAGE2_CKPT = osp.join('stage2', 'iter_300.pth')
_SCORE_NAMES = {'ID': 'ID  (-max_k F_k, stage 1 alone)', 'OoD': 'OoD (O_1 - O_0, UEM alone)',
                'LLR': 'LR  (O_1 - O_0 - max_k F_k)'}


def run_core(ctx: DemoContext) -> dict:
    """Stage 1, stage 2, OoD scores of the stage-2 model and mIoU of both."""
    stage1_ckpt, stage2_ckpt = ctx.path(STAGE1_CKPT), ctx.path(STAGE2_CKPT)
    log('stage 1: tiny ViT + pixel decoder + GMM head on the miniature Cityscapes')
    ctx.train(STAGE1_CONFIG, osp.dirname(stage1_ckpt), label='stage 1 ')
    log('stage 2: UEM (G-D: linear UEM head) with AnomalyMix, everything of stage 1 frozen')
    ctx.train(STAGE2_CONFIG, osp.dirname(stage2_ckpt),
              ['--cfg-options', f'model.stage1_checkpoint={stage1_ckpt}'], label='stage 2 ')

    results = {}
    heatmaps = ctx.folder('heatmaps')
    for score in ('ID', 'OoD', 'LLR'):
        extra = ['--cfg-options', f'model.test_cfg.score={score}']
        if score == 'LLR':
            extra = ['--show-dir', heatmaps] + extra
        results[score] = ctx.test(STAGE2_CONFIG, stage2_ckpt, ctx.folder(f'test_{score}'),
                                  ['AP', 'FPR95', 'AUROC'], extra)
    miou1 = ctx.test(STAGE1_CONFIG, stage1_ckpt, ctx.folder('miou_stage1'), ['mIoU'])
    miou2 = ctx.test(MIOU_CONFIG, stage2_ckpt, ctx.folder('miou_stage2'), ['mIoU'])

    rows = [[_SCORE_NAMES[s], *(f'{results[s][f"ood/{m}"]:.2f}' for m in ('AP', 'FPR95', 'AUROC'))]
            for s in ('ID', 'OoD', 'LLR')]
    print()
    print('Miniature RoadAnomaly-format set (pixel metrics in %):')
    print(format_table(rows, ['score', 'AP', 'FPR95', 'AUROC']))
    print()
    print(format_table([['after stage 1', f'{miou1["mIoU"]:.2f}'],
                        ['after stage 2', f'{miou2["mIoU"]:.2f}']],
                       ['inlier mIoU (miniature Cityscapes val)', 'mIoU']))
    print()
    # the test set has labels: the hook draws the ground truth too
    shown = ' | '.join(panel_titles(pred=True, gt=True, score_name='LLR'))
    print(f'heat maps ({shown}): {heatmaps}')
    results['mIoU'] = {'stage1': miou1['mIoU'], 'stage2': miou2['mIoU']}
    return results


#: the demo, in order (``make demo`` runs all; ``tools/demo.py --sections`` picks)
SECTIONS: List[DemoSection] = [
    DemoSection('core', 'stage 1 + stage 2 (G-D), ID / OoD / LR scores and mIoU', run_core),
    DemoSection('table4', 'Table 4: UEM vs RbA vs PEBAL from one D network, OoD AP / FPR95 '
                'with each one\'s score, mIoU before / after', run_table4, requires=('core', )),
    DemoSection('stock', 'a UEM on a stock mmseg DeepLabV3+: its MSP / MaxLogit / Energy vs '
                'the UEM, mIoU before and after', run_stock),
]


def select_sections(names: Optional[Sequence[str]] = None) -> List[DemoSection]:
    """The sections ``names`` (None: all) plus the ones they require, in demo order."""
    by_name = {s.name: s for s in SECTIONS}
    wanted = list(by_name) if names is None else list(names)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f'unknown demo section(s) {unknown}; valid: {list(by_name)}')
    chosen = set()
    while wanted:
        name = wanted.pop()
        if name not in chosen:
            chosen.add(name)
            wanted.extend(by_name[name].requires)
    return [s for s in SECTIONS if s.name in chosen]


def run_demo(work_dir: str = 'work_dirs/demo',
             sections: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Generate the data, run the chosen sections; returns (and writes to
    ``<work_dir>/demo_results.json``) each section's numbers under its name."""
    start = time.time()
    chosen = select_sections(sections)
    work_dir = osp.join(ROOT, work_dir) if not osp.isabs(work_dir) else work_dir
    ctx = DemoContext(work_dir, osp.join(work_dir, 'data'))
    log(f'sections: {", ".join(s.name for s in chosen)}; everything goes to {work_dir}')
    make_data(ctx.data_root)
    for section in chosen:
        log(f'section {section.name}: {section.help}')
        ctx.results[section.name] = section.run(ctx)
    print(f'wall time: {time.time() - start:.0f} s')
    with open(ctx.path('demo_results.json'), 'w') as f:
        json.dump(ctx.results, f, indent=2)
    return ctx.results
