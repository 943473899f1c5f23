"""Sinkhorn-Knopp balanced assignment of embeddings to mixture components.

Shape key: P pixels (embeddings), C components.

GMMSeg (``distributed_sinkhorn_wograd``) assigns the pixels of one class to its C
components with 3 Sinkhorn iterations at temperature 0.05 on scores scaled to [-1, 1],
equal-size marginals, then a hard argmax. It works in the exp domain, where
exp(1 / 0.05) = 4.9e8 overflows fp16; this version iterates on log Q instead.
"""
import math
from typing import Tuple

import torch
from torch import Tensor


@torch.no_grad()
def sinkhorn_knopp(
    scores: Tensor,
    *,
    num_iters: int = 3,
    epsilon: float = 0.05,
    rescale: bool = True,
) -> Tuple[Tensor, Tensor]:
    """Balanced soft and hard assignment of P rows to C columns.

    Q is proportional to exp(scores / epsilon); each iteration first scales every column
    (component) to total mass 1/C, then every row (pixel) to 1/P; finally Q is multiplied by
    P. Hence each row sums to 1 exactly and each column to about P/C (exactly in the limit).

    Args:
        scores: (P, C) affinities (e.g. one class's component log-likelihoods).
        num_iters: Sinkhorn iterations (GMMSeg: 3).
        epsilon: temperature (GMMSeg: 0.05).
        rescale: divide ``scores`` by max |scores| first (GMMSeg does), bringing them to [-1, 1].

    Returns:
        q: (P, C) float32 soft assignment, rows sum to 1.
        assignment: (P,) long argmax of ``q`` (the hard assignment GMMSeg uses).
    """
    if scores.dim() != 2:
        raise ValueError(f'scores must be (P, C), got {tuple(scores.shape)}')
    if num_iters < 1 or epsilon <= 0:
        raise ValueError(f'need num_iters >= 1 and epsilon > 0, got {num_iters}, {epsilon}')
    num_rows, num_cols = scores.shape
    dtype = torch.float64 if scores.dtype == torch.float64 else torch.float32
    with torch.autocast(scores.device.type, enabled=False):
        log_q = scores.to(dtype)
        if num_rows == 0:
            return log_q.clone(), torch.zeros(0, dtype=torch.long, device=scores.device)
        if rescale:
            # guard an all-zero input: leave it at 0 (uniform assignment)
            log_q = log_q / log_q.abs().max().clamp(min=torch.finfo(dtype).tiny)
        log_q = log_q / epsilon
        log_q = log_q - torch.logsumexp(log_q.flatten(), 0)  # total mass 1
        log_rows, log_cols = math.log(num_rows), math.log(num_cols)
        for _ in range(num_iters):
            # every component (column) gets total mass 1/C
            log_q = log_q - torch.logsumexp(log_q, 0, keepdim=True) - log_cols
            # every pixel (row) gets total mass 1/P
            log_q = log_q - torch.logsumexp(log_q, 1, keepdim=True) - log_rows
        q = torch.exp(log_q + log_rows)  # rows sum to 1, columns to ~P/C
    return q, q.argmax(1)
