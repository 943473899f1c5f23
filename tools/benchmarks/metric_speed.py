"""Time the exact OoD pixel metrics against sklearn on the same synthetic pixels.

Usage:
    python tools/benchmarks/metric_speed.py                     # 2e7 pixels on CPU
    python tools/benchmarks/metric_speed.py --num-pixels 5e6 --threads 2
    python tools/benchmarks/metric_speed.py --device cuda      # 2.1e8 pixels (FS LaF size)

Scores are LLR-like (inlier N(0, 1), anomaly N(3, 1)) quantised to 1/64 so that many pixels
tie; ~3% positives, 5% void. sklearn gets float64 scores (float64 is exact for float32
inputs) and computes average_precision_score + roc_curve (FPR95 = first TPR >=
0.95, AUROC = trapezoid); all values must agree to --tol. Memory: extra resident memory (CPU,
sampled every 2 ms) or the CUDA allocator peak, over the pixel count.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import time

import numpy as np
import torch
from sklearn.metrics import auc, average_precision_score, roc_curve

from mmseg_uem.benchmark.measure import PeakMemory
from mmseg_uem.evaluation.functional import metrics_from_sorted, sort_scores, split_by_label


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--num-pixels', type=float, default=None,
                        help='default 2e7 on CPU, 2.1e8 on CUDA')
    parser.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    parser.add_argument('--pos-frac', type=float, default=0.03)
    parser.add_argument('--void-frac', type=float, default=0.05)
    parser.add_argument('--step', type=float, default=1 / 64, help='score quantum (ties)')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    parser.add_argument('--skip-sklearn', action='store_true')
    parser.add_argument('--tol', type=float, default=1e-9)
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args()



def synthetic(num: int, args: argparse.Namespace):
    rng = np.random.default_rng(args.seed)
    labels = (rng.random(num, dtype=np.float32) < args.pos_frac).astype(np.uint8)
    scores = rng.standard_normal(num, dtype=np.float32)
    scores += 3.0 * labels
    np.round(scores / args.step, out=scores)
    scores *= args.step
    labels[rng.random(num, dtype=np.float32) < args.void_frac] = 255
    return torch.from_numpy(scores), torch.from_numpy(labels)


def ours(scores: torch.Tensor, labels: torch.Tensor) -> dict:
    """The OoDMetric path: split into the stored state (process), then sort and count
    (compute_metrics); peak extra memory is measured per stage."""
    sync = torch.cuda.synchronize if scores.is_cuda else (lambda: None)
    with PeakMemory(scores.is_cuda) as split_mem:
        t0 = time.perf_counter()
        pos, neg = split_by_label(scores, labels)
        sync()
        t1 = time.perf_counter()
    state_bytes = pos.numel() * pos.element_size() + neg.numel() * neg.element_size()
    with PeakMemory(scores.is_cuda) as compute_mem:
        t1 = time.perf_counter()
        values = metrics_from_sorted(sort_scores(pos, inplace=True),
                                     sort_scores(neg, inplace=True))
        sync()
        t2 = time.perf_counter()
    return dict(values=values, split_s=t1 - t0, compute_s=t2 - t1, total_s=t2 - t0,
                valid=pos.numel() + neg.numel(), state_bytes=state_bytes,
                split_extra=split_mem.extra - state_bytes, compute_extra=compute_mem.extra)


def sklearn_metrics(scores: np.ndarray, labels: np.ndarray) -> dict:
    t0 = time.perf_counter()
    ap = average_precision_score(labels, scores)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    values = dict(AP=ap, AUROC=auc(fpr, tpr), FPR95=float(fpr[np.searchsorted(tpr, 0.95)]))
    return dict(values=values, total_s=time.perf_counter() - t0)


def main() -> None:
    args = parse_args()
    device = ('cuda' if torch.cuda.is_available() else 'cpu') if args.device == 'auto' \
        else args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    num = int(args.num_pixels or (2.1e8 if device == 'cuda' else 2e7))
    scores, labels = synthetic(num, args)
    print(f'{num:.3g} pixels on {device} ({torch.get_num_threads()} torch threads), '
          f'positives {args.pos_frac:.1%}, void {args.void_frac:.1%}, score step {args.step:g}, '
          f'{torch.unique(scores).numel()} distinct scores')

    if device == 'cuda':
        scores, labels = scores.cuda(), labels.cuda()
    ours(scores[:1000], labels[:1000])  # warm-up (kernels, allocator, thread pools)
    res = ours(scores, labels)
    per_valid = 1.0 / res['valid']
    rows = [('ours: split per image (process)', f'{res["split_s"]:.3f} s'),
            ('ours: sort + count (compute_metrics)', f'{res["compute_s"]:.3f} s'),
            ('ours: total', f'{res["total_s"]:.3f} s'),
            ('ours: stored state / valid pixel', f'{res["state_bytes"] * per_valid:.2f} B'),
            ('ours: split transient / valid pixel', f'{res["split_extra"] * per_valid:.2f} B'),
            ('ours: compute peak beyond state / valid pixel',
             f'{res["compute_extra"] * per_valid:.2f} B')]
    if not args.skip_sklearn:
        valid = (labels != 255).cpu().numpy()
        s64 = scores.cpu().numpy()[valid].astype(np.float64)
        y = labels.cpu().numpy()[valid].astype(np.int64)
        with PeakMemory() as mem:
            ref = sklearn_metrics(s64, y)
        rows += [('sklearn: AP + roc_curve (float64 input)', f'{ref["total_s"]:.3f} s'),
                 ('sklearn: peak beyond its input / valid pixel', f'{mem.extra * per_valid:.2f} B'),
                 ('speed-up', f'{ref["total_s"] / res["total_s"]:.1f}x')]
    width = max(len(r[0]) for r in rows)
    print('\n'.join(f'{k:<{width}}  {v}' for k, v in rows))
    print(f'{"metric":<8}{"ours":>22}{"sklearn":>22}{"|diff|":>12}')
    ok = True
    for key, value in res['values'].items():
        if args.skip_sklearn:
            print(f'{key:<8}{value:>22.15f}')
            continue
        other = ref['values'][key]
        ok &= abs(value - other) <= args.tol
        print(f'{key:<8}{value:>22.15f}{other:>22.15f}{abs(value - other):>12.1e}')
    if not ok:
        raise SystemExit(f'values differ by more than {args.tol}')


if __name__ == '__main__':
    main()
