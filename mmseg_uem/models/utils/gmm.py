"""Diagonal-Gaussian mixture numerics of the generative (GMMSeg) classifier.

Shape key: B batch, D feature dim, K classes, C components per class,
M = K*C components in all, S memory slots per component, P pixels (embeddings).

Everything here runs in float32 (float64 if given float64) with autocast off:
Gaussian log-likelihoods of unit-norm 256-d embeddings are ~+-300, which fp16
overflows in the exponent and bf16 quantises to 1-2 units.
"""
import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor


def _compute_dtype(x: Tensor) -> torch.dtype:
    """float64 stays float64; every lower precision is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


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
    dtype = _compute_dtype(x)
    with torch.autocast(x.device.type, enabled=False):
        x = x.to(dtype)
        means, stds = means.to(dtype), stds.to(dtype)
        inv_var = stds.pow(-2)  # (M, D)
        quad = (x * x) @ inv_var.t()  # (P, M): sum_d x^2 / s^2
        quad = quad - 2.0 * (x @ (means * inv_var).t())  # - 2 sum_d x mu / s^2
        quad = quad + (means * means * inv_var).sum(1)  # + sum_d mu^2 / s^2, broadcast over P
        log_norm = stds.log().sum(1) + 0.5 * x.shape[1] * math.log(2.0 * math.pi)  # (M,)
        return -0.5 * quad - log_norm


def select_evenly_per_group(groups: Tensor, num_groups: int, max_per_group: int) -> Tensor:
    """Indices of at most ``max_per_group`` evenly spaced members of every group.

    Deterministic (GMMSeg's ``rnd_sample(..., _uniform=True)`` idea, so that every rank picks
    the same rows): members keep their order of appearance, and from a group of n > m members
    the ranks floor(j (n - 1) / (m - 1)), j = 0..m-1, are taken (first and last included).

    Args:
        groups: (R,) long group id per row; ids outside [0, num_groups) are never selected.
        num_groups: number of groups G.
        max_per_group: m >= 1.

    Returns:
        (R',) long indices into ``groups``, sorted by group then by order of appearance.
    """
    if max_per_group < 1:
        raise ValueError(f'max_per_group must be >= 1, got {max_per_group}')
    valid = torch.nonzero((groups >= 0) & (groups < num_groups)).squeeze(1)  # (V,)
    if valid.numel() == 0:
        return valid
    # stable sort keeps the order of appearance inside each group
    gid, order = torch.sort(groups[valid], stable=True)
    sorted_idx = valid[order]  # (V,) row indices grouped by group id
    counts = torch.bincount(gid, minlength=num_groups)  # (G,)
    starts = torch.cumsum(counts, 0) - counts  # (G,) first position of each group
    take = counts.clamp(max=max_per_group)  # (G,) rows kept per group
    j = torch.arange(max_per_group, device=groups.device)  # (m,)
    # integer form of linspace(0, n - 1, m): exact and identical on every device
    denom = (take - 1).clamp(min=1)
    ranks = (j[None, :] * (counts - 1)[:, None]) // denom[:, None]  # (G, m)
    keep = j[None, :] < take[:, None]  # (G, m)
    positions = (starts[:, None] + ranks)[keep]  # (R',) group-major order
    return sorted_idx[positions]


@torch.no_grad()
def ring_buffer_write(memory: Tensor, pointers: Tensor, rows: Tensor, groups: Tensor) -> None:
    """Write rows into per-group FIFO queues in place, advancing the pointers.

    Rows of one group go to slots ptr, ptr+1, ... (mod S) in their given order, so the
    oldest entries are overwritten first; each group may receive at most S rows per call.

    Args:
        memory: (G, S, D) queues, modified in place.
        pointers: (G,) long next write slot per queue, modified in place.
        rows: (R, D) rows to write.
        groups: (R,) long queue id per row, in [0, G).
    """
    num_groups, slots = memory.shape[:2]
    if rows.numel() == 0:
        return
    counts = torch.bincount(groups, minlength=num_groups)  # (G,)
    if int(counts.max()) > slots:
        raise ValueError(f'cannot write {int(counts.max())} rows into a queue of {slots} slots')
    gid, order = torch.sort(groups, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    offset = torch.arange(gid.numel(), device=groups.device) - starts[gid]  # rank within group
    slot = (pointers[gid] + offset) % slots  # (R,) distinct within each group
    memory[gid, slot] = rows[order].to(memory.dtype)
    pointers.copy_((pointers + counts) % slots)


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

    Args:
        means: (M, D) current means.
        stds: (M, D) current standard deviations.
        memory: (M, S, D) queues (a (M, S, D) temporary of the same size is made: pass one
            class at a time for large memories).

    Returns:
        (means', stds'), each (M, D), float32 (float64 for float64 inputs).
    """
    dtype = _compute_dtype(memory)
    with torch.autocast(memory.device.type, enabled=False):
        memory = memory.to(dtype)
        f = F.normalize(memory.sum(1), dim=-1)  # (M, D)
        new_means = mean_momentum * means.to(dtype) + (1.0 - mean_momentum) * f
        new_means = F.normalize(new_means, dim=-1)  # unit-norm means (GMMSeg re-normalises)
        var = (memory - f[:, None, :]).pow(2).mean(1)  # (M, D) biased, centred on f
        new_stds = std_momentum * stds.to(dtype) + (1.0 - std_momentum) * (var + var_floor).sqrt()
    return new_means, new_stds
