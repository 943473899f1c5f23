"""Per-pixel anomaly scores from inlier class scores F and UEM scores O: the one owner of
the score formulas, of the list of modes and of which modes need the UEM.

Shape key: B batch, K inlier classes, H x W pixels.

Higher = more anomalous in every mode. F are the frozen inlier head's class scores
(GMM head: LayerNorm over classes of the max component log-likelihood; linear head:
logits), O the UEM head's 2-class output (O[:, 1] outlier, O[:, 0] inlier).

- LLR: O1 - O0 - max_k F_k   (the method; paper Table 2 "LR"; also the logit that the UEM's
                              training loss puts through BCE)
- ID: -max_k F_k             (inlier head alone, Table 2); MaxLogit is the same formula under
                              the name the OoD literature gives it for a linear head
- O1: O1                     (UEM alone as the public code scores Table 2's "OoD")
- OoD: O1 - O0               (UEM alone, normalised by its generic-inlier score; ranks as O1
                              for a GMM UEM with positive LayerNorm weights, whose LayerNorm
                              over 2 classes makes both affine in one value; not for a linear
                              UEM)
- MSP: -max_k softmax(F)_k, Energy: -logsumexp_k F_k (T = 1), RbA: -sum_k tanh(F_k)
- PEBAL: the Energy map smoothed by a 7x7 Gaussian (sigma 1), as PEBAL scores
  (``code/model/wide_network.py: compute_anomaly_score``); its abstention channel is a
  training device only and is not part of F.

Every consumer (the UEM head's loss, the segmentor, test-time augmentation, the benchmark)
averages or resizes F and O first and calls :func:`anomaly_score` once on the result: the
scores are nonlinear in F and O, so averaging finished scores would give other maps.
Scores are float32 (float64 inputs stay float64, so the losses built on these scores can
be checked with ``torch.autograd.gradcheck``).
"""
from typing import Optional

import torch
from torch import Tensor

from .numerics import compute_dtype
from .smoothing import gaussian_blur

SCORE_MODES = ('LLR', 'ID', 'OoD', 'O1', 'MSP', 'MaxLogit', 'Energy', 'RbA', 'PEBAL')
#: the modes that need the UEM's output O; the others are scores of a stage-1 model
UEM_SCORE_MODES = ('LLR', 'OoD', 'O1')
STAGE1_SCORE_MODES = tuple(m for m in SCORE_MODES if m not in UEM_SCORE_MODES)


def check_score_mode(mode: str, *, with_uem: bool, what: str = 'score mode') -> str:
    """Return ``mode`` if it is known and computable; else a ValueError naming the valid ones.

    Args:
        with_uem: whether the model has a UEM (stage 2); without one only
            ``STAGE1_SCORE_MODES`` are computable.
        what: how the error names the setting (e.g. 'test_cfg.score').
    """
    if mode not in SCORE_MODES:
        raise ValueError(f'unknown {what} {mode!r}; valid: {SCORE_MODES}')
    if mode in UEM_SCORE_MODES and not with_uem:
        raise ValueError(f'{what}={mode!r} needs the UEM (auxiliary_head); a stage-1 model '
                         f'can use {", ".join(STAGE1_SCORE_MODES)}')
    return mode


def likelihood_ratio(inlier_scores: Tensor, uem_scores: Tensor) -> Tensor:
    """LLR = O1 - O0 - max_k F_k, (B, 1, H, W), from F (B, K, H, W) and O (B, 2, H, W).

    No checks and no dtype change: the UEM head's training loss calls it on float32 maps."""
    ratio = uem_scores[:, 1:2] - uem_scores[:, 0:1]  # outlier vs generic-inlier log-ratio
    return ratio - inlier_scores.amax(1, keepdim=True)


def anomaly_score(
    inlier_scores: Tensor,
    uem_scores: Optional[Tensor] = None,
    *,
    mode: str = 'LLR',
) -> Tensor:
    """Anomaly map, higher = more anomalous.

    Args:
        inlier_scores: (B, K, H, W) class scores F.
        uem_scores: (B, 2, H, W) UEM output O, same B, H, W; required for 'LLR', 'OoD' and 'O1'.
        mode: one of ``SCORE_MODES``.

    Returns:
        (B, 1, H, W) float32 scores (float64 for float64 F).
    """
    if mode not in SCORE_MODES:
        raise ValueError(f'unknown anomaly score mode {mode!r}; valid modes: {SCORE_MODES}')
    if inlier_scores.dim() != 4:
        raise ValueError(f'inlier_scores must be (B, K, H, W), got {tuple(inlier_scores.shape)}')
    f = inlier_scores.to(compute_dtype(inlier_scores))
    if mode in UEM_SCORE_MODES:
        if uem_scores is None:
            raise ValueError(f'mode {mode!r} needs the UEM scores O (B, 2, H, W); got None')
        if uem_scores.dim() != 4 or uem_scores.shape[1] != 2:
            raise ValueError(f'uem_scores must be (B, 2, H, W), got {tuple(uem_scores.shape)}')
        if (uem_scores.shape[0], *uem_scores.shape[2:]) != (f.shape[0], *f.shape[2:]):
            raise ValueError(f'F {tuple(f.shape)} and O {tuple(uem_scores.shape)} differ in '
                             'batch or spatial size: resize both to one size first')
        o = uem_scores.to(f.dtype)
        if mode == 'O1':
            return o[:, 1:2]
        if mode == 'OoD':
            return o[:, 1:2] - o[:, 0:1]
        return likelihood_ratio(f, o)
    with torch.autocast(f.device.type, enabled=False):
        if mode in ('ID', 'MaxLogit'):  # one formula, two names
            return -f.amax(1, keepdim=True)
        if mode == 'MSP':
            return -f.softmax(1).amax(1, keepdim=True)
        if mode == 'Energy':
            return -torch.logsumexp(f, 1, keepdim=True)
        if mode == 'PEBAL':
            return gaussian_blur(-torch.logsumexp(f, 1, keepdim=True))  # PEBAL's 7x7, sigma 1
        return -torch.tanh(f).sum(1, keepdim=True)  # RbA
