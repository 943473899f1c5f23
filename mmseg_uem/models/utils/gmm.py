"""Diagonal-Gaussian mixture numerics of the generative (GMMSeg) classifier.

Shape key: B batch, D feature dim, K classes, C components per class,
M = K*C components in all, S memory slots per component, P pixels (embeddings).

Everything here runs in float32 (float64 if given float64) with autocast off:
Gaussian log-likelihoods of unit-norm 256-d embeddings are ~+-300, which fp16
overflows in the exponent and bf16 quantises to 1-2 units.
"""
import math
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from .numerics import compute_dtype


def group_counts(groups: Tensor, num_groups: int) -> Tensor:
    """(G,) long number of entries of ``groups`` (long, values in [0, G)) equal to each id.

    ``torch.bincount`` without its host synchronisation: on CUDA bincount reads the maximum
    back to size its output, this adds ones into a buffer of the known size."""
    ones = torch.ones_like(groups, dtype=torch.long)
    return groups.new_zeros(num_groups, dtype=torch.long).index_add_(0, groups.long(), ones)


def diagonal_gaussian_log_prob(x: Tensor, means: Tensor, stds: Tensor) -> Tensor:
    """Log-density of every embedding under every diagonal Gaussian.

    log N(x; mu, diag(s^2)) = -1/2 sum_d (x_d - mu_d)^2 / s_d^2 - sum_d log s_d - D/2 log(2 pi),
    with the quadratic term expanded as sum x^2/s^2 - 2 x.(mu/s^2) + sum mu^2/s^2 so that it
    is two (P, D) @ (D, M) matrix products: the (P, M, D) difference tensor (~17 GB for a
    4-image Cityscapes batch) is never built. Differentiable in ``x``.

    Args:
        x: (P, D) embeddings.
        means: (M, D) component means.
        stds: (M, D) component standard deviations (not variances), > 0.

    Returns:
        (P, M) log-likelihoods in nats, float32 (float64 for float64 inputs).
    """
    if x.dim() != 2 or means.dim() != 2 or means.shape != stds.shape:
        raise ValueError(f'expected x (P, D), means/stds (M, D); got {tuple(x.shape)}, '
                         f'{tuple(means.shape)}, {tuple(stds.shape)}')
    if x.shape[1] != means.shape[1]:
        raise ValueError(f'feature dims differ: x has {x.shape[1]}, means {means.shape[1]}')
    dtype = compute_dtype(x)
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(dtype)
        means, stds = means.to(dtype), stds.to(dtype)
        inv_var = stds.pow(-2)  # (M, D)
        quad = (x * x) @ inv_var.t()  # (P, M): sum_d x^2 / s^2
        quad = quad - 2.0 * (x @ (means * inv_var).t())  # - 2 sum_d x mu / s^2
        quad = quad + (means * means * inv_var).sum(1)  # + sum_d mu^2 / s^2, broadcast over P
        log_norm = stds.log().sum(1) + 0.5 * x.shape[1] * math.log(2.0 * math.pi)  # (M,)
        return -0.5 * quad - log_norm


def pick_evenly_per_group(
    rows: Tensor, groups: Tensor, num_groups: int, max_per_group: int, *,
    share: Optional[Callable[[Tensor], Tuple[Tensor, Tensor]]] = None,
) -> Tuple[Tensor, Tensor]:
    """At most ``max_per_group`` evenly spaced rows of every group, in fixed-size slots.

    Deterministic (GMMSeg's ``rnd_sample(..., _uniform=True)`` idea, so that every rank picks
    the same rows): members keep their order of appearance, and from a group of n > m members
    the ranks floor(j (n - 1) / (m - 1)), j = 0..m-1, are taken (first and last included);
    a group of n <= m members gives all of them. The output has a fixed size and is found by
    a stable sort and gathers: no data-dependent shape, no host synchronisation.

    For data split over ranks (DDP), pass ``share``: a function from this rank's members
    per group (G,) to ``(counts_before, totals)``, the members of each group on the ranks
    before this one and on all ranks (an all-gather). The slots are then those of the whole
    rank-ordered sequence; each rank fills the ones it holds and leaves zeros elsewhere, so
    the sum over ranks is the global pick.

    Args:
        rows: (R, D) candidates.
        groups: (R,) long group id per row; ids outside [0, num_groups) are never picked.
        num_groups: number of groups G.
        max_per_group: m >= 1.

    Returns:
        picked: (G, m, D), slot j of group g = its j-th pick (zeros where there is none).
        keep: (G, m) bool, True for the slots that hold a pick (a prefix of every row).
    """
    if max_per_group < 1:
        raise ValueError(f'max_per_group must be >= 1, got {max_per_group}')
    if rows.dim() != 2 or groups.shape != rows.shape[:1]:
        raise ValueError(f'need rows (R, D) and groups (R,), got {tuple(rows.shape)}, '
                         f'{tuple(groups.shape)}')
    valid = (groups >= 0) & (groups < num_groups)
    key = torch.where(valid, groups, torch.full_like(groups, num_groups))  # invalid: group G
    _, order = torch.sort(key, stable=True)  # group-major, order of appearance inside a group
    counts = group_counts(key, num_groups + 1)[:num_groups]  # (G,) members here
    starts = torch.cumsum(counts, 0) - counts  # (G,) first sorted position of each group
    if share is None:
        counts_before, totals = torch.zeros_like(counts), counts
    else:
        counts_before, totals = share(counts)
    take = totals.clamp(max=max_per_group)  # (G,)
    j = torch.arange(max_per_group, device=groups.device)  # (m,)
    # integer form of linspace(0, n - 1, m): exact and identical on every device
    ranks = (j[None, :] * (totals - 1).clamp(min=0)[:, None]) // (take - 1).clamp(min=1)[:, None]
    keep = j[None, :] < take[:, None]  # (G, m)
    local = ranks - counts_before[:, None]  # rank within this share of the sequence
    mine = keep & (local >= 0) & (local < counts[:, None])
    shape = (num_groups, max_per_group, rows.shape[1])
    if rows.shape[0] == 0:
        return rows.new_zeros(shape), keep
    position = (starts[:, None] + local).clamp(0, rows.shape[0] - 1)  # (G, m)
    picked = rows[order[position]]  # (G, m, D)
    return torch.where(mine[..., None], picked, picked.new_zeros(())), keep


@torch.no_grad()
def ring_buffer_write(memory: Tensor, pointers: Tensor, rows: Tensor, keep: Tensor) -> None:
    """Write each group's kept rows into its FIFO queue in place, advancing the pointers.

    The kept rows of group g go to slots ptr_g, ptr_g + 1, ... (mod S) in order, so the
    oldest entries are overwritten first. Fixed-size and without host synchronisation: all
    m slots from ptr_g on are written, the ones past the kept rows with their own contents.

    Args:
        memory: (G, S, D) queues, modified in place.
        pointers: (G,) long next write slot per queue, modified in place.
        rows: (G, m, D) rows per group, m <= S (as from :func:`pick_evenly_per_group`).
        keep: (G, m) bool, the rows to write: a prefix of every row of ``rows``.
    """
    num_groups, slots = memory.shape[:2]
    if rows.shape[:2] != keep.shape or rows.shape[0] != num_groups:
        raise ValueError(f'need rows (G={num_groups}, m, D) and keep (G, m), got '
                         f'{tuple(rows.shape)}, {tuple(keep.shape)}')
    if rows.shape[1] > slots:
        raise ValueError(f'cannot write {rows.shape[1]} rows into a queue of {slots} slots')
    j = torch.arange(rows.shape[1], device=memory.device)
    slot = (pointers[:, None] + j[None, :]) % slots  # (G, m), distinct within each group
    queue = torch.arange(num_groups, device=memory.device)[:, None].expand_as(slot)
    current = memory[queue, slot]  # (G, m, D)
    memory[queue, slot] = torch.where(keep[..., None], rows.to(memory.dtype), current)
    pointers.copy_((pointers + keep.sum(1)) % slots)


@torch.no_grad()
def em_update(
    means: Tensor,
    stds: Tensor,
    memory: Tensor,
    *,
    mean_momentum: float = 0.999,
    std_momentum: float = 0.0,
    var_floor: float = 1e-2,
) -> Tuple[Tensor, Tensor]:
    """GMMSeg's M-step for a set of components from their memory queues.

    f = l2norm(sum of the queue) (the normalised mean direction),
    mu' = l2norm(gamma_mu * mu + (1 - gamma_mu) * f),
    var = biased variance of the queue about f (not about mu, not about the arithmetic mean),
    sigma' = gamma_s * sigma + (1 - gamma_s) * sqrt(var + var_floor)  (gamma_s = 0: replaced).
    ``var_floor`` is added to the variance, so sigma >= sqrt(var_floor) = 0.1 by default.

    All M components at once from two reductions over the queues (their sum and sum of
    squares): var = mean(x^2) - 2 f mean(x) + f^2, so no (M, S, D) temporary is made and
    the whole 19 x 5 x 8000 x 256 memory is updated in one pass.

    Args:
        means: (M, D) current means.
        stds: (M, D) current standard deviations.
        memory: (M, S, D) queues.

    Returns:
        (means', stds'), each (M, D), float32 (float64 for float64 inputs).
    """
    dtype = compute_dtype(memory)
    with torch.autocast(memory.device.type, enabled=False):
        memory = memory.to(dtype)
        slots = memory.shape[1]
        mean = memory.sum(1) / slots  # (M, D)
        mean_sq = torch.linalg.vector_norm(memory, dim=1).square() / slots  # (M, D)
        f = F.normalize(mean, dim=-1)  # (M, D)
        new_means = mean_momentum * means.to(dtype) + (1.0 - mean_momentum) * f
        new_means = F.normalize(new_means, dim=-1)  # unit-norm means (GMMSeg re-normalises)
        # biased variance centred on f; clamped: rounding may leave -1e-9 for equal rows
        var = (mean_sq - 2.0 * f * mean + f * f).clamp(min=0.0)
        new_stds = std_momentum * stds.to(dtype) + (1.0 - std_momentum) * (var + var_floor).sqrt()
    return new_means, new_stds
