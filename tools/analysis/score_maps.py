"""Re-score saved anomaly maps (``tools/test.py --out DIR``) and plot PR / ROC curves.

Usage:
    python tools/analysis/score_maps.py work_dirs/uem/maps
    python tools/analysis/score_maps.py llr=runs/a/maps msp=runs/b/maps --plot-dir figs

Each run is a directory of ``.npz`` maps (format: ``mmseg_uem/evaluation/io.py``), optionally
named ``NAME=DIR``. Prints the score the maps hold (their ``maps.json``) and exact pooled
AP / FPR95 / AUROC in percent; with ``--plot-dir``
writes ``pr_curves.png`` and ``roc_curves.png`` with one curve per run.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import os

import matplotlib

matplotlib.use('Agg')  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

from mmseg_uem.apis.cli import add_debug_arg, run_cli
from mmseg_uem.evaluation.functional import (  # noqa: E402
    metrics_from_sorted,
    pr_roc_curves,
    sort_scores,
)
from mmseg_uem.evaluation.io import load_pooled_scores, manifest_score  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', help='DIR or NAME=DIR with saved .npz maps')
    parser.add_argument('--tpr', type=float, default=0.95, help='recall level of FPR95')
    parser.add_argument('--ignore-index', type=int, default=255)
    parser.add_argument('--plot-dir', default=None, help='write PR / ROC curve PNGs here')
    parser.add_argument('--max-points', type=int, default=2000,
                        help='operating points per plotted curve')
    add_debug_arg(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    runs = [r.split('=', 1) if '=' in r else (osp.basename(osp.normpath(r)), r)
            for r in args.runs]
    curves = {}
    header = f'{"run":<24}{"score":<10}{"AP":>8}{"FPR95":>8}{"AUROC":>8}{"pixels":>14}'
    print(header)
    for name, run_dir in runs:
        pos, neg = load_pooled_scores(run_dir, ignore_index=args.ignore_index)
        pos, neg = sort_scores(pos, inplace=True), sort_scores(neg, inplace=True)
        values = metrics_from_sorted(pos, neg, tpr=args.tpr)
        score = manifest_score(run_dir) or '?'
        print(f'{name:<24}{score:<10}{100 * values["AP"]:>8.2f}{100 * values["FPR95"]:>8.2f}'
              f'{100 * values["AUROC"]:>8.2f}{pos.numel() + neg.numel():>14d}')
        if args.plot_dir and pos.numel() and neg.numel():
            curves[name] = (values, pr_roc_curves(pos, neg, max_points=args.max_points))
    if args.plot_dir:
        plot_curves(curves, args.plot_dir)


def plot_curves(curves: dict, plot_dir: str) -> None:
    """One PR and one ROC figure, a curve per run, labelled with AP / AUROC in percent."""
    os.makedirs(plot_dir, exist_ok=True)
    for kind, (x, y), (xlabel, ylabel), key in (
            ('pr', ('recall', 'precision'), ('recall', 'precision'), 'AP'),
            ('roc', ('fpr', 'tpr'), ('false positive rate', 'true positive rate'), 'AUROC')):
        fig, ax = plt.subplots(figsize=(5, 4.5))
        for name, (values, curve) in curves.items():
            ax.plot(curve[x].numpy(), curve[y].numpy(),
                    drawstyle='steps-pre' if kind == 'pr' else 'default',
                    label=f'{name} ({key} {100 * values[key]:.2f})')
        ax.set(xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.01))
        ax.grid(alpha=0.3)
        ax.legend(loc='lower left' if kind == 'pr' else 'lower right')
        fig.tight_layout()
        fig.savefig(osp.join(plot_dir, f'{kind}_curves.png'), dpi=150)
        plt.close(fig)
        print(f'wrote {osp.join(plot_dir, f"{kind}_curves.png")}')


if __name__ == '__main__':
    run_cli(main)
