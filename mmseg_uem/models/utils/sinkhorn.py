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

from .gmm import group_counts
from .numerics import compute_dtype


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
    dtype = compute_dtype(scores)
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


def _grouped_logsumexp(values: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """logsumexp over the rows of each group, per column: (P, C) -> (G, C).

    Empty groups give -inf.
    """
    index = groups[:, None].expand_as(values)
    peak = values.new_full((num_groups, values.shape[1]), -math.inf)
    peak = peak.scatter_reduce(0, index, values, reduce='amax', include_self=True)
    peak = torch.where(torch.isfinite(peak), peak, torch.zeros_like(peak))
    total = values.new_zeros((num_groups, values.shape[1]))
    total.index_add_(0, groups, torch.exp(values - peak[groups]))
    return total.log() + peak


@torch.no_grad()
def grouped_sinkhorn_knopp(
    scores: Tensor,
    groups: Tensor,
    num_groups: int,
    *,
    num_iters: int = 3,
    epsilon: float = 0.05,
    rescale: bool = True,
) -> Tuple[Tensor, Tensor]:
    """:func:`sinkhorn_knopp` run independently on the rows of every group, at once.

    The same arithmetic as calling :func:`sinkhorn_knopp` on ``scores[groups == g]`` for
    each g, with per-group maxima, sums and row counts done by scatter / index_add, so
    all classes of a GMM head are assigned in a fixed number of kernels (no Python loop
    over classes, no host synchronisation).

    Args:
        scores: (P, C) affinities of each row to the C components of its own group.
        groups: (P,) long group (class) of each row, in [0, num_groups).
        num_groups: G.

    Returns:
        q: (P, C) soft assignment, rows sum to 1, each group's columns to ~P_g / C.
        assignment: (P,) long argmax of ``q``.
    """
    if scores.dim() != 2 or groups.shape != scores.shape[:1]:
        raise ValueError(f'need scores (P, C) and groups (P,), got {tuple(scores.shape)}, '
                         f'{tuple(groups.shape)}')
    if num_iters < 1 or epsilon <= 0:
        raise ValueError(f'need num_iters >= 1 and epsilon > 0, got {num_iters}, {epsilon}')
    num_cols = scores.shape[1]
    dtype = compute_dtype(scores)
    with torch.autocast(scores.device.type, enabled=False):
        log_q = scores.to(dtype)
        if log_q.shape[0] == 0:
            return log_q.clone(), torch.zeros(0, dtype=torch.long, device=scores.device)
        groups = groups.long()
        if rescale:
            # per-group max |score| (an all-zero group stays 0: uniform assignment)
            scale = log_q.new_zeros(num_groups).scatter_reduce(
                0, groups, log_q.abs().amax(1), reduce='amax', include_self=True)
            log_q = log_q / scale.clamp(min=torch.finfo(dtype).tiny)[groups, None]
        log_q = log_q / epsilon
        # total mass 1 per group
        row_lse = torch.logsumexp(log_q, 1, keepdim=True)
        log_q = log_q - _grouped_logsumexp(row_lse, groups, num_groups)[groups]
        counts = group_counts(groups, num_groups).to(dtype)
        log_rows = counts.clamp(min=1).log()[groups, None]  # (P, 1) log P_g
        log_cols = math.log(num_cols)
        for _ in range(num_iters):
            # every component of every group gets total mass 1/C
            log_q = log_q - _grouped_logsumexp(log_q, groups, num_groups)[groups] - log_cols
            # every row gets total mass 1/P_g
            log_q = log_q - torch.logsumexp(log_q, 1, keepdim=True) - log_rows
        q = torch.exp(log_q + log_rows)
    return q, q.argmax(1)
