"""Bounded-memory pixel metrics: order-preserving float32 key histograms with error bounds.

Shape key: P pixels, M occupied bins (M <= min(P, 2^B)), B key bits.

Each score is mapped to the order-preserving integer key of its float32 bit pattern b
(key = ~b if the sign bit is set, else b | 0x80000000, after -0.0 -> +0.0; NaN rejected) and
the top B bits of the key are its bin. Bins preserve order: a pixel in a higher bin has a
strictly higher score. No score range is needed, +-inf get their own extreme bins, and with
B = 32 every float32 value is its own bin. Positives and negatives are counted per bin in
int64; histograms of images or ranks merge by summing counts (order-independent, exact).

The binned metrics are the exact metrics of the data with each bin's scores tied. The unknown
order inside a bin bounds the exact metrics (T_b, F_b: positives / negatives in higher bins,
C_b = T_b + F_b, p_b / n_b: positives / negatives in bin b):
    AP    >= (1/P) sum_b [p_b - (C_b + n_b - T_b)(psi(C_b + n_b + p_b + 1) - psi(C_b + n_b + 1))]
             (every negative of the bin before its positives),
    AP    <= (1/P) sum_b p_b (T_b + p_b) / (C_b + p_b)  (also valid under exact ties),
    |AUROC - AUROC_bin| <= sum_b p_b n_b / (2PN),
    FPR   in [FPR_bin - n_{b*} / N, FPR_bin], b* the bin where the TPR reaches the level.
Storage is sparse (occupied bins only) so B up to 32 works; :meth:`ScoreHistogram.to_dense`
gives the 2 x 2^B vectors to all-reduce across ranks (B <= 24 keeps that <= 256 MiB).
"""
import warnings
from typing import Dict, Optional, Sequence

import torch
from torch import Tensor

from ...utils.labels import IGNORE_INDEX
from .pixel_metrics import (
    PIXEL_METRICS,
    UndefinedMetricWarning,
    _check_tpr,
    check_labels,
    check_scores,
)

MIN_BITS, MAX_BITS = 8, 32
DENSE_MAX_BITS = 24  # above this, a dense bincount would allocate > 2 x 128 MiB per call
_NEG_INF_KEY = 0x007FFFFF  # ~0xFF800000, the unsigned key of float32 -inf


def _check_bits(bits: int) -> None:
    if not MIN_BITS <= int(bits) <= MAX_BITS:
        raise ValueError(f'bits must be in [{MIN_BITS}, {MAX_BITS}], got {bits}')


def score_bins(scores: Tensor, *, bits: int = 20, name: Optional[str] = None) -> Tensor:
    """Order-preserving bin index of each score.

    Args:
        scores: (...) floating scores; cast to float32 (monotone, so order is kept).
        bits: B, the number of top key bits kept.
        name: what to call the input in error messages.

    Returns:
        (...) int64 bins in [0, 2^B): s < s' implies bin(s) <= bin(s').
    """
    _check_bits(bits)
    check_scores(scores, name=name)
    x = scores.float()
    x = torch.where(x == 0, torch.zeros_like(x), x)  # -0.0 and +0.0 must share a key
    b = x.view(torch.int32)
    # Signed twin of the unsigned key: negative floats have the sign bit set and grow in
    # magnitude as the pattern grows, so flip their 31 value bits; key_u = key_s + 2^31.
    key = torch.where(b < 0, b ^ 0x7FFFFFFF, b).to(torch.int64)
    return (key >> (32 - bits)) + (1 << (bits - 1))


def bin_lower_edge(bins: Tensor, *, bits: int = 20) -> Tensor:
    """The smallest float32 score that falls in each bin (inverse of :func:`score_bins`).

    Args:
        bins: (M,) int64 bins.
        bits: B used to build them.

    Returns:
        (M,) float32 lower edges; -inf for the lowest bins, whose smallest keys are NaN patterns.
    """
    _check_bits(bits)
    key_u = bins.to(torch.int64) << (32 - bits)  # unsigned key of the bin's smallest member
    pattern = torch.where(key_u >= (1 << 31), key_u - (1 << 31), ~key_u & 0xFFFFFFFF)
    pattern = torch.where(pattern >= (1 << 31), pattern - (1 << 32), pattern)  # to int32 range
    edge = pattern.to(torch.int32).view(torch.float32)
    below_neg_inf = key_u < _NEG_INF_KEY  # keys under -inf belong to negative NaN patterns
    return torch.where(below_neg_inf, torch.full_like(edge, float('-inf')), edge)


class ScoreHistogram:
    """Sparse histogram of positive and negative scores over order-preserving key bins.

    Args:
        bins: (M,) int64 occupied bins, strictly ascending.
        pos: (M,) int64 positive counts per bin.
        neg: (M,) int64 negative counts per bin.
        bits: B.
    """

    def __init__(self, bins: Tensor, pos: Tensor, neg: Tensor, *, bits: int = 20) -> None:
        _check_bits(bits)
        if not bins.shape == pos.shape == neg.shape or bins.dim() != 1:
            raise ValueError('bins, pos and neg must be 1-D of equal length')
        self.bins, self.pos, self.neg, self.bits = bins, pos, neg, int(bits)

    @classmethod
    def from_scores(cls, scores: Tensor, labels: Tensor, *, bits: int = 20,
                    ignore_index: int = IGNORE_INDEX,
                    name: Optional[str] = None) -> 'ScoreHistogram':
        """Histogram of the valid pixels (label 0 or 1) of one image or a whole set.

        Args:
            scores: (...) floating scores; NaN raises.
            labels: (...) 0 / 1 / ``ignore_index``; other values raise.
            bits: B in [8, 32].
            ignore_index: void label.
            name: what to call the input in error messages.
        """
        if scores.shape != labels.shape:
            raise ValueError(f'scores {tuple(scores.shape)} and labels {tuple(labels.shape)} '
                             f'differ in shape{" in " + name if name else ""}')
        check_labels(labels, ignore_index=ignore_index, name=name)
        labels = labels.reshape(-1)
        keys = score_bins(scores.reshape(-1), bits=bits, name=name)
        valid = (labels == 0) | (labels == 1)
        keys, is_pos = keys[valid], labels[valid] == 1
        if bits <= DENSE_MAX_BITS:
            size = 1 << bits
            pos = torch.bincount(keys[is_pos], minlength=size)
            neg = torch.bincount(keys[~is_pos], minlength=size)
            return cls.from_dense(pos, neg, bits=bits)
        uniq, inverse = torch.unique(keys, return_inverse=True)
        pos = torch.zeros_like(uniq).index_add_(0, inverse, is_pos.to(torch.int64))
        neg = torch.zeros_like(uniq).index_add_(0, inverse, (~is_pos).to(torch.int64))
        return cls(uniq, pos, neg, bits=bits)

    @classmethod
    def from_dense(cls, pos: Tensor, neg: Tensor, *, bits: int) -> 'ScoreHistogram':
        """From two (2^B,) count vectors, e.g. after an all-reduce across ranks."""
        occupied = ((pos + neg) > 0).nonzero().squeeze(1)
        return cls(occupied, pos[occupied].long(), neg[occupied].long(), bits=bits)

    def to_dense(self) -> Tensor:
        """(2, 2^B) int64 counts [positives, negatives] per bin (sum these across ranks)."""
        if self.bits > DENSE_MAX_BITS:
            raise ValueError(f'a dense histogram of {self.bits} bits is too large')
        dense = torch.zeros(2, 1 << self.bits, dtype=torch.int64, device=self.bins.device)
        dense[0, self.bins] = self.pos
        dense[1, self.bins] = self.neg
        return dense

    @classmethod
    def merge(cls, histograms: Sequence['ScoreHistogram']) -> 'ScoreHistogram':
        """Sum histograms of the same B (images, ranks); the result is order-independent."""
        if not histograms:
            raise ValueError('nothing to merge')
        bits = {h.bits for h in histograms}
        if len(bits) != 1:
            raise ValueError(f'cannot merge histograms of different bits {sorted(bits)}')
        bins = torch.cat([h.bins.cpu() for h in histograms])
        uniq, inverse = torch.unique(bins, return_inverse=True)
        pos = torch.zeros_like(uniq).index_add_(0, inverse, torch.cat([h.pos.cpu()
                                                                       for h in histograms]))
        neg = torch.zeros_like(uniq).index_add_(0, inverse, torch.cat([h.neg.cpu()
                                                                       for h in histograms]))
        return cls(uniq, pos, neg, bits=bits.pop())

    @property
    def num_pos(self) -> int:
        return int(self.pos.sum())

    @property
    def num_neg(self) -> int:
        return int(self.neg.sum())

    def metrics(self, *, tpr: float = 0.95,
                metrics: Sequence[str] = PIXEL_METRICS) -> Dict[str, float]:
        """Binned metrics and their guaranteed bounds on the exact metrics.

        Returns:
            dict with, for each requested metric m, ``m`` (binned value), ``m_lo`` and ``m_hi``
            (bounds); floats in [0, 1], nan where undefined (no positives / no negatives).
        """
        _check_tpr(tpr)
        unknown = set(metrics) - set(PIXEL_METRICS)
        if unknown:
            raise KeyError(f'unknown metrics {sorted(unknown)}; choose from {PIXEL_METRICS}')
        num_pos, num_neg = self.num_pos, self.num_neg
        nan = float('nan')
        keys = [k for m in metrics for k in (m, f'{m}_lo', f'{m}_hi')]
        if num_pos == 0:
            warnings.warn(f'no positive (anomaly) pixels among {num_neg} valid pixels: metrics '
                          'undefined, reported as nan', UndefinedMetricWarning,
                          stacklevel=2)
            return dict.fromkeys(keys, nan)
        if num_neg == 0 and ({'AUROC', 'FPR95'} & set(metrics)):
            warnings.warn(f'no negative (inlier) pixels among {num_pos} valid pixels: AUROC and '
                          'FPR undefined, reported as nan', UndefinedMetricWarning,
                          stacklevel=2)
        # descending score order; T / F = counts strictly above each bin (exclusive cumsum)
        p, n = self.pos.flip(0).cpu(), self.neg.flip(0).cpu()
        t_above, f_above = torch.cumsum(p, 0) - p, torch.cumsum(n, 0) - n
        out: Dict[str, float] = {}
        if 'AP' in metrics:
            out.update(self._ap(p, n, t_above, f_above, num_pos))
        if 'AUROC' in metrics:
            if num_neg:
                neg_below = num_neg - f_above - n
                auc = float((p * (2 * neg_below + n)).sum()) / (2.0 * num_pos * num_neg)
                slack = float((p * n).sum()) / (2.0 * num_pos * num_neg)
                out.update(AUROC=auc, AUROC_lo=auc - slack, AUROC_hi=auc + slack)
            else:
                out.update(AUROC=nan, AUROC_lo=nan, AUROC_hi=nan)
        if 'FPR95' in metrics:
            if num_neg:
                recall = (t_above + p).double() / num_pos
                k = int(torch.searchsorted(recall, torch.tensor([tpr], dtype=torch.float64)))
                k = min(k, recall.numel() - 1)
                fpr = int(f_above[k] + n[k]) / num_neg
                out.update(FPR95=fpr, FPR95_lo=int(f_above[k]) / num_neg, FPR95_hi=fpr)
            else:
                out.update(FPR95=nan, FPR95_lo=nan, FPR95_hi=nan)
        return {k: out[k] for k in keys}

    @staticmethod
    def _ap(p: Tensor, n: Tensor, t_above: Tensor, f_above: Tensor,
            num_pos: int) -> Dict[str, float]:
        has = p > 0  # bins without positives carry no AP mass
        p, n, t, c = (x[has].double() for x in (p, n, t_above, t_above + f_above))
        ap = float((p * (t + p) / (c + p + n)).sum()) / num_pos
        hi = float((p * (t + p) / (c + p)).sum()) / num_pos
        # sum_{i=1..p} (t + i) / (c + n + i) = p - (c + n - t) * (psi(c+n+p+1) - psi(c+n+1))
        a = c + n + 1
        lo_terms = p - (a - 1 - t) * (torch.special.digamma(a + p) - torch.special.digamma(a))
        # guard the bound against float64 rounding of the digamma difference (~1e-12 relative)
        lo = max(0.0, float(lo_terms.sum()) / num_pos - 1e-12)
        return dict(AP=ap, AP_lo=min(lo, ap), AP_hi=max(hi, ap))


def histogram_metrics(scores: Tensor, labels: Tensor, *, bits: int = 20, tpr: float = 0.95,
                      ignore_index: int = IGNORE_INDEX,
                      metrics: Sequence[str] = PIXEL_METRICS) -> Dict[str, float]:
    """Binned AP / AUROC / FPR with bounds for one set of pixels; see :class:`ScoreHistogram`."""
    hist = ScoreHistogram.from_scores(scores, labels, bits=bits, ignore_index=ignore_index)
    return hist.metrics(tpr=tpr, metrics=metrics)


__all__ = ['ScoreHistogram', 'bin_lower_edge', 'histogram_metrics', 'score_bins']
