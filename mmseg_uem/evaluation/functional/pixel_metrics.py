"""Exact pixel-level OoD metrics pooled over a dataset: AP, AUROC and FPR at a TPR.

Shape key: P pixels (valid: label in {0, 1}), Pp positive pixels, Pn negative pixels,
R runs of equal positive scores.

Definitions (those of sklearn and of the SMIYC / UEM tools; "Differences from other evaluation
tools" in docs/en/advanced_guides/evaluation.md). Let t_1 > ... > t_K be the distinct scores,
TP_k / FP_k the positives / negatives with score >= t_k (TP_0 = FP_0 = 0), and P, N the
totals. Then

    AP    = sum_k (TP_k - TP_{k-1}) / P * TP_k / (TP_k + FP_k)      (sklearn step rule)
    AUROC = sum_k (FP_k - FP_{k-1}) / N * (TP_k + TP_{k-1}) / (2P)  (trapezoid, ties half credit)
    FPR@t = FP_{k*} / N, k* = the first k with TP_k / P >= t        (SMIYC / UEM / Fishyscapes)

Implementation. The textbook route is one stable descending argsort of all P scores, a gather
of the labels, an int64 cumsum and the last index of each run of equal scores. We compute the
same counts without the argsort: positives and negatives are sorted separately (values only,
no indices, so no stability is needed and x86 SIMD sorting applies), and at each distinct
positive score v the counts #pos >= v and #neg >= v are read by binary search. Only the
thresholds where TP changes carry AP mass, the AUROC is the exact pair count
sum_{pos} (#neg < s + #neg <= s) / (2PN), and the first threshold with TPR >= t is always a
positive score. All counts are int64 (float32 cumsums stop being exact at 2^24), all ratios
float64, and the result does not depend on the input order (multi-process results are equal).
"""
import warnings
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ...utils.labels import IGNORE_INDEX

#: the pixel metrics, in the order the tools report them (the one list of their names)
PIXEL_METRICS = ('AP', 'FPR95', 'AUROC')


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for the given labels (no positives or no negatives)."""


def _where(name: Optional[str]) -> str:
    return f' in {name}' if name else ''


def check_scores(scores: Tensor, *, name: Optional[str] = None) -> None:
    """Raise ``ValueError`` if ``scores`` holds NaN. +-inf are valid and ordered as usual.

    Args:
        scores: anomaly scores of any shape, higher = more anomalous.
        name: what to call the input in the message (e.g. the image path).
    """
    if not torch.is_floating_point(scores):
        raise TypeError(f'scores must be a floating tensor, got {scores.dtype}{_where(name)}')
    # fast path: the sum is finite or +-inf without NaN; it is NaN also for +inf + -inf
    if not bool(torch.isnan(scores.sum())):
        return
    num_nan = int(torch.isnan(scores).sum())
    if num_nan:
        raise ValueError(f'{num_nan} NaN anomaly score(s){_where(name)}; NaN has no rank.')


def check_labels(labels: Tensor, *, ignore_index: int = IGNORE_INDEX,
                 name: Optional[str] = None) -> None:
    """Raise ``ValueError`` unless every label is 0 (inlier), 1 (anomaly) or ``ignore_index``.

    Other values mean a label file read as colour or a missing remap (e.g. RoadAnomaly's 2).
    """
    if labels.dtype == torch.uint8 and labels.device.type == 'cpu':
        # one pass, no per-pixel temporaries: count the 256 possible values
        counts = torch.bincount(labels.reshape(-1), minlength=256)
        counts[[0, 1]] = 0
        if 0 <= ignore_index < 256:
            counts[ignore_index] = 0
        if not bool(counts.any()):
            return
    bad = (labels != 0) & (labels != 1) & (labels != ignore_index)
    if bool(bad.any()):
        values = torch.unique(labels[bad])[:10].tolist()
        raise ValueError(f'label values {values} outside {{0, 1, {ignore_index}}}{_where(name)}; '
                         'remap the dataset labels to 0 inlier / 1 anomaly / ignore_index void.')


def split_by_label(scores: Tensor, labels: Tensor, *, ignore_index: int = IGNORE_INDEX,
                   name: Optional[str] = None) -> Tuple[Tensor, Tensor]:
    """Validate and split the scores of valid pixels into positives and negatives.

    Args:
        scores: (...) floating anomaly scores.
        labels: (...) same shape, values in {0, 1, ignore_index}.
        ignore_index: void label; its pixels are dropped.
        name: what to call the input in error messages.

    Returns:
        (Pp,) scores of label-1 pixels and (Pn,) scores of label-0 pixels, flattened, same dtype
        and device as ``scores``.
    """
    if scores.shape != labels.shape:
        raise ValueError(f'scores {tuple(scores.shape)} and labels {tuple(labels.shape)} '
                         f'differ in shape{_where(name)}')
    check_scores(scores, name=name)
    check_labels(labels, ignore_index=ignore_index, name=name)
    scores, labels = scores.reshape(-1), labels.reshape(-1)
    return scores[labels == 1], scores[labels == 0]


def sort_scores(scores: Tensor, *, inplace: bool = False) -> Tensor:
    """Sort a 1-D score tensor ascending (values only).

    On the CPU numpy's unstable sort (x86-simd-sort) is ~20x faster than ``torch.sort`` for
    float32; values need no stable order because equal values are indistinguishable. Half
    precision is widened to float32 first (exact, order-preserving).

    Args:
        scores: (P,) floating scores, no NaN.
        inplace: sort the CPU tensor's storage in place (saves one copy of P values).
    """
    if scores.dtype not in (torch.float32, torch.float64):
        scores, inplace = scores.float(), True
    if scores.device.type != 'cpu':
        return torch.sort(scores).values
    array = scores.detach().reshape(-1).numpy()
    if inplace and scores.is_contiguous():
        array.sort()
        return scores.reshape(-1)
    return torch.from_numpy(np.sort(array))


def _positive_runs(pos: Tensor, neg: Tensor) -> Dict[str, Tensor]:
    """Counts at each distinct positive score, in descending score order.

    Args:
        pos: (Pp,) positive scores sorted ascending, Pp >= 1.
        neg: (Pn,) negative scores sorted ascending, same dtype and device.

    Returns:
        dict of (R,) tensors: ``value`` distinct positive scores (descending), ``run`` positives
        at that score, ``tp`` / ``fp`` positives / negatives with score >= value,
        ``neg_lt`` / ``neg_le`` negatives with score < / <= value. Counts are int64.
    """
    num_pos = pos.numel()
    is_start = torch.ones(num_pos, dtype=torch.bool, device=pos.device)
    is_start[1:] = pos[1:] != pos[:-1]
    starts = is_start.nonzero().squeeze(1)  # (R,) first index of each run, ascending values
    value = pos[starts]
    run = torch.diff(starts, append=starts.new_tensor([num_pos]))
    neg_lt = torch.searchsorted(neg, value, side='left')
    neg_le = torch.searchsorted(neg, value, side='right')
    out = dict(value=value, run=run, tp=num_pos - starts, fp=neg.numel() - neg_lt,
               neg_lt=neg_lt, neg_le=neg_le)
    # flip to descending scores: thresholds are visited from the most anomalous down
    return {k: v.flip(0) for k, v in out.items()}


def _check_tpr(tpr: float) -> None:
    if not 0.0 < tpr <= 1.0:
        raise ValueError(f'tpr must be in (0, 1], got {tpr}')


def metrics_from_sorted(pos: Tensor, neg: Tensor, *, tpr: float = 0.95,
                        metrics: Sequence[str] = PIXEL_METRICS) -> Dict[str, float]:
    """AP, AUROC and FPR at ``tpr`` from ascending-sorted positive and negative scores.

    Args:
        pos: (Pp,) positive scores sorted ascending.
        neg: (Pn,) negative scores sorted ascending.
        tpr: recall level of the FPR metric; the key is ``'FPR95'`` whatever its value.
        metrics: subset of ``PIXEL_METRICS``.

    Returns:
        dict of floats in [0, 1]; nan (with an ``UndefinedMetricWarning``) where undefined:
        all three without positives, AUROC and FPR without negatives.
    """
    _check_tpr(tpr)
    unknown = set(metrics) - set(PIXEL_METRICS)
    if unknown:
        raise KeyError(f'unknown metrics {sorted(unknown)}; choose from {PIXEL_METRICS}')
    num_pos, num_neg = pos.numel(), neg.numel()
    nan = float('nan')
    if num_pos == 0:
        warnings.warn(f'no positive (anomaly) pixels among {num_neg} valid pixels: '
                      f'{", ".join(metrics)} undefined, reported as nan', UndefinedMetricWarning,
                      stacklevel=2)
        return {m: nan for m in metrics}
    if num_neg == 0 and ({'AUROC', 'FPR95'} & set(metrics)):
        warnings.warn(f'no negative (inlier) pixels among {num_pos} valid pixels: AUROC and FPR '
                      'undefined, reported as nan', UndefinedMetricWarning,
                      stacklevel=2)
    if pos.dtype != neg.dtype:
        dtype = torch.promote_types(pos.dtype, neg.dtype)
        pos, neg = pos.to(dtype), neg.to(dtype)
    r = _positive_runs(pos, neg.to(pos.device))
    out: Dict[str, float] = {}
    if 'AP' in metrics:
        precision = r['tp'].double() / (r['tp'] + r['fp']).double()
        out['AP'] = float((r['run'].double() * precision).sum() / num_pos)
    if 'AUROC' in metrics:
        # pairs (pos, neg) with pos > neg count 2, ties count 1: exact in int64 up to 2^62 pairs
        pairs2 = int((r['run'] * (r['neg_lt'] + r['neg_le'])).sum())
        out['AUROC'] = pairs2 / (2.0 * num_pos * num_neg) if num_neg else nan
    if 'FPR95' in metrics:
        k = _tpr_run(r, num_pos, tpr)
        out['FPR95'] = int(r['fp'][k]) / num_neg if num_neg else nan
    return {m: out[m] for m in metrics}


def _tpr_run(runs: Dict[str, Tensor], num_pos: int, tpr: float) -> int:
    """Index of the first (highest) threshold of ``runs`` whose TPR reaches ``tpr``."""
    recall = runs['tp'].double() / num_pos  # (R,) non-decreasing, last = 1.0
    k = int(torch.searchsorted(recall, torch.tensor([tpr], dtype=torch.float64,
                                                     device=recall.device)))
    return min(k, recall.numel() - 1)


def operating_point_from_sorted(pos: Tensor, neg: Tensor, *,
                                tpr: float = 0.95) -> Dict[str, float]:
    """The threshold at which FPR95 is measured, from ascending-sorted scores.

    Pixels with score >= ``threshold`` are flagged; at it the TPR first reaches ``tpr``
    and the FPR is the one :func:`metrics_from_sorted` reports as ``'FPR95'``.

    Returns:
        dict(threshold, tpr (reached), fpr), floats; nan without positives.
    """
    _check_tpr(tpr)
    num_pos, num_neg = pos.numel(), neg.numel()
    if num_pos == 0:
        return dict(threshold=float('nan'), tpr=float('nan'), fpr=float('nan'))
    if pos.dtype != neg.dtype:
        dtype = torch.promote_types(pos.dtype, neg.dtype)
        pos, neg = pos.to(dtype), neg.to(dtype)
    r = _positive_runs(pos, neg.to(pos.device))
    k = _tpr_run(r, num_pos, tpr)
    return dict(threshold=float(r['value'][k]), tpr=int(r['tp'][k]) / num_pos,
                fpr=int(r['fp'][k]) / num_neg if num_neg else float('nan'))


def pixel_metrics(scores: Tensor, labels: Tensor, *, tpr: float = 0.95,
                  ignore_index: int = IGNORE_INDEX,
                  metrics: Sequence[str] = PIXEL_METRICS) -> Dict[str, float]:
    """Exact AP, AUROC and FPR at ``tpr`` of pooled pixels (void dropped).

    Args:
        scores: (...) floating anomaly scores, higher = more anomalous; +-inf allowed, NaN raises.
        labels: (...) 0 inlier, 1 anomaly, ``ignore_index`` void; other values raise.
        tpr: recall level of the FPR metric (key ``'FPR95'``).
        ignore_index: void label.
        metrics: subset of ``PIXEL_METRICS``.

    Returns:
        dict of floats in [0, 1] (nan where undefined, see :func:`metrics_from_sorted`).
    """
    pos, neg = split_by_label(scores, labels, ignore_index=ignore_index)
    return metrics_from_sorted(sort_scores(pos, inplace=True), sort_scores(neg, inplace=True),
                               tpr=tpr, metrics=metrics)


def average_precision(scores: Tensor, labels: Tensor, *, ignore_index: int = IGNORE_INDEX) -> float:
    """Pixel AP (sklearn's step rule); see :func:`pixel_metrics`."""
    return pixel_metrics(scores, labels, ignore_index=ignore_index, metrics=('AP',))['AP']


def auroc(scores: Tensor, labels: Tensor, *, ignore_index: int = IGNORE_INDEX) -> float:
    """Area under the ROC curve (ties half credit); see :func:`pixel_metrics`."""
    return pixel_metrics(scores, labels, ignore_index=ignore_index, metrics=('AUROC',))['AUROC']


def fpr_at_tpr(scores: Tensor, labels: Tensor, *, tpr: float = 0.95,
               ignore_index: int = IGNORE_INDEX) -> float:
    """FPR at the first threshold whose TPR >= ``tpr``; see :func:`pixel_metrics`."""
    return pixel_metrics(scores, labels, tpr=tpr, ignore_index=ignore_index,
                         metrics=('FPR95',))['FPR95']


def binary_clf_curve(pos: Tensor, neg: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
    """The full operating curve: counts at every distinct score, for PR / ROC plots.

    Args:
        pos: (Pp,) positive scores sorted ascending.
        neg: (Pn,) negative scores sorted ascending.

    Returns:
        (K,) distinct thresholds (descending) and int64 (K,) TP_k, FP_k = #pos / #neg >= t_k.
    """
    thresholds = torch.unique(torch.cat([pos, neg.to(pos)])).flip(0)
    tp = pos.numel() - torch.searchsorted(pos, thresholds, side='left')
    fp = neg.numel() - torch.searchsorted(neg.to(pos), thresholds, side='left')
    return thresholds, tp, fp


def pr_roc_curves(pos: Tensor, neg: Tensor, *,
                  max_points: Optional[int] = None) -> Dict[str, Tensor]:
    """Precision-recall and ROC curves for plotting, optionally thinned.

    Args:
        pos: (Pp,) positive scores sorted ascending, Pp >= 1.
        neg: (Pn,) negative scores sorted ascending, Pn >= 1.
        max_points: keep about this many operating points, evenly spaced in recall and in FPR
            (plus the end points); None keeps every distinct threshold.

    Returns:
        float64 (K + 1,) tensors ``recall``, ``precision``, ``fpr``, ``tpr``, starting at
        (recall 0, precision 1) and (fpr 0, tpr 0) as sklearn's curves do.
    """
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError('curves need positive and negative pixels')
    _, tp, fp = binary_clf_curve(pos, neg)
    if max_points is not None and tp.numel() > max_points:
        levels = torch.linspace(0, 1, max_points // 2, dtype=torch.float64)
        keep = torch.cat([torch.searchsorted(tp, (levels * pos.numel()).ceil().long()),
                          torch.searchsorted(fp, (levels * neg.numel()).ceil().long()),
                          torch.tensor([tp.numel() - 1])])
        keep = torch.unique(keep.clamp(max=tp.numel() - 1))
        tp, fp = tp[keep], fp[keep]
    one, zero = torch.ones(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    tpr = tp.double() / pos.numel()
    return dict(recall=torch.cat([zero, tpr]),
                precision=torch.cat([one, tp.double() / (tp + fp).double()]),
                fpr=torch.cat([zero, fp.double() / neg.numel()]), tpr=torch.cat([zero, tpr]))


def best_f1_threshold(pos: Tensor, neg: Tensor) -> Tuple[float, float]:
    """The score t* maximising pixel F1 of the prediction ``score >= t*`` over the dataset.

    F1 = 2TP / (TP + FP + P) only rises where TP rises, so the optimum is at a positive score;
    among equal optima the highest threshold wins (SMIYC's nanargmax over a descending curve).

    Args:
        pos: (Pp,) positive scores sorted ascending, Pp >= 1.
        neg: (Pn,) negative scores sorted ascending.

    Returns:
        (threshold, best F1).
    """
    if pos.numel() == 0:
        raise ValueError('F1-optimal threshold needs at least one positive pixel')
    r = _positive_runs(pos, neg.to(pos))
    f1 = 2.0 * r['tp'].double() / (r['tp'] + r['fp'] + pos.numel()).double()
    k = int(torch.argmax(f1))  # first maximum = highest threshold
    return float(r['value'][k]), float(f1[k])
