"""What the demo's sections share: the data, the folders, running a tool, printing a table."""
import glob
import json
import os
import os.path as osp
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from mmseg_uem.models.segmentors.stage1 import find_checkpoint

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join('configs', 'uem', 'demo')
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
              stage1: Optional[str] = None, label: str = '') -> str:
        """``tools/train.py config --work-dir work_dir`` (with ``stage1``: started from that
        stage-1 checkpoint, ``model.stage1_checkpoint``); returns the checkpoint the run saved
        last (mmengine's ``last_checkpoint`` in ``work_dir``)."""
        os.makedirs(work_dir, exist_ok=True)
        if stage1 is not None:
            extra = ['--cfg-options', f'model.stage1_checkpoint={stage1}'] + (extra or [])
        self.run_tool(['tools/train.py', config, '--work-dir', work_dir] + (extra or []),
                      osp.join(work_dir, 'train.log'), label=label)
        return last_checkpoint(work_dir)

    def test(self, config: str, checkpoint: str, work_dir: str, metrics: List[str],
             extra: Optional[List[str]] = None) -> Dict[str, float]:
        """``tools/test.py --eval metrics``; returns the metrics json it wrote."""
        os.makedirs(work_dir, exist_ok=True)
        self.run_tool(['tools/test.py', config, checkpoint, '--work-dir', work_dir,
                       '--eval', *metrics] + (extra or []), osp.join(work_dir, 'test.log'))
        return latest_metrics(work_dir)


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint a training run in ``work_dir`` saved last (mmengine's
    ``last_checkpoint`` file, :func:`~mmseg_uem.models.segmentors.stage1.find_checkpoint`)."""
    found = find_checkpoint(work_dir) if osp.isdir(work_dir) else None
    if found is None:
        raise FileNotFoundError(f'no checkpoint saved in {work_dir} (no last_checkpoint file, '
                                'or the file it names is gone): run its training section first')
    return found


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
