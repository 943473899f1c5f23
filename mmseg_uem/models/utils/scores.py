"""Per-pixel anomaly scores from inlier class scores F and UEM scores O.

Shape key: B batch, K inlier classes, H x W pixels.

Higher = more anomalous in every mode. F are the frozen inlier head's class scores
(GMM head: LayerNorm over classes of the max component log-likelihood; linear head:
logits), O the UEM head's 2-class output (O[:, 1] outlier, O[:, 0] inlier).

- LLR: O1 - O0 - max_k F_k   (the method; paper Table 2 "LR")
- ID: -max_k F_k             (inlier head alone, Table 2)
- OoD: O1 - O0               (UEM alone, Table 2; the public code logs O1, the same ranking
                              for a linear head up to the O0 term)
- MSP: -max_k softmax(F)_k, MaxLogit: -max_k F_k, Energy: -logsumexp_k F_k (T = 1),
  RbA: -sum_k tanh(F_k)
- PEBAL: the Energy map smoothed by a 7x7 Gaussian (sigma 1), as PEBAL scores
  (``code/model/wide_network.py: compute_anomaly_score``); its abstention channel is a
  training device only and is not part of F.

Scores are float32 (float64 inputs stay float64, so the losses built on these scores can
be checked with ``torch.autograd.gradcheck``).
"""
from typing import Optional

import torch
from torch import Tensor

from .smoothing import gaussian_blur

SCORE_MODES = ('LLR', 'ID', 'OoD', 'MSP', 'MaxLogit', 'Energy', 'RbA', 'PEBAL')
_NEEDS_UEM = ('LLR', 'OoD')


def anomaly_score(
    inlier_scores: Tensor,
    uem_scores: Optional[Tensor] = None,
    *,
    mode: str = 'LLR',
) -> Tensor:
    """Anomaly map, higher = more anomalous.

    Args:
        inlier_scores: (B, K, H, W) class scores F.
        uem_scores: (B, 2, H, W) UEM output O, same B, H, W; required for 'LLR' and 'OoD'.
        mode: one of ``SCORE_MODES``.

    Returns:
        (B, 1, H, W) float32 scores (float64 for float64 F).
    """
    if mode not in SCORE_MODES:
        raise ValueError(f'unknown anomaly score mode {mode!r}; valid modes: {SCORE_MODES}')
    if inlier_scores.dim() != 4:
        raise ValueError(f'inlier_scores must be (B, K, H, W), got {tuple(inlier_scores.shape)}')
    f = inlier_scores if inlier_scores.dtype == torch.float64 else inlier_scores.float()
    if mode in _NEEDS_UEM:
        if uem_scores is None:
            raise ValueError(f'mode {mode!r} needs the UEM scores O (B, 2, H, W); got None')
        if uem_scores.dim() != 4 or uem_scores.shape[1] != 2:
            raise ValueError(f'uem_scores must be (B, 2, H, W), got {tuple(uem_scores.shape)}')
        if (uem_scores.shape[0], *uem_scores.shape[2:]) != (f.shape[0], *f.shape[2:]):
            raise ValueError(f'F {tuple(f.shape)} and O {tuple(uem_scores.shape)} differ in '
                             'batch or spatial size: resize both to one size first')
        o = uem_scores.to(f.dtype)
        ratio = o[:, 1:2] - o[:, 0:1]  # (B, 1, H, W): outlier vs generic-inlier log-ratio
        if mode == 'OoD':
            return ratio
        return ratio - f.amax(1, keepdim=True)
    with torch.autocast(f.device.type, enabled=False):
        if mode in ('ID', 'MaxLogit'):
            return -f.amax(1, keepdim=True)
        if mode == 'MSP':
            return -f.softmax(1).amax(1, keepdim=True)
        if mode == 'Energy':
            return -torch.logsumexp(f, 1, keepdim=True)
        if mode == 'PEBAL':
            return gaussian_blur(-torch.logsumexp(f, 1, keepdim=True))  # PEBAL's 7x7, sigma 1
        return -torch.tanh(f).sum(1, keepdim=True)  # RbA
