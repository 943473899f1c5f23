"""Tests of models/utils/gmm.py against torch.distributions and hand-worked cases."""
import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal
from torch.utils._python_dispatch import TorchDispatchMode

from mmseg_uem.models.utils.gmm import (
    diagonal_gaussian_log_prob,
    em_update,
    pick_evenly_per_group,
    ring_buffer_write,
)


def _random_gmm(num_pix, num_comp, dims, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.nn.functional.normalize(torch.randn(num_pix, dims, generator=g, dtype=dtype), dim=1)
    mu = torch.nn.functional.normalize(torch.randn(num_comp, dims, generator=g, dtype=dtype), dim=1)
    std = 0.1 + 0.3 * torch.rand(num_comp, dims, generator=g, dtype=dtype)
    return x, mu, std


def test_log_prob_equals_torch_distributions_float64():
    x, mu, std = _random_gmm(7, 5, 16)
    ours = diagonal_gaussian_log_prob(x, mu, std)
    ref = Independent(Normal(mu[None], std[None]), 1).log_prob(x[:, None])  # (P, M)
    mvn = MultivariateNormal(mu, covariance_matrix=torch.diag_embed(std**2)).log_prob(x[:, None])
    assert ours.dtype == torch.float64 and ours.shape == (7, 5)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours, mvn, rtol=1e-5, atol=1e-5)


def test_log_prob_float32_close_to_float64_at_d256():
    x, mu, std = _random_gmm(32, 10, 256)
    ref = diagonal_gaussian_log_prob(x, mu, std)
    ours = diagonal_gaussian_log_prob(x.float(), mu.float(), std.float())
    assert ours.dtype == torch.float32
    assert (ours.double() - ref).abs().max() < 1e-3  # values are O(100)


def test_log_prob_runs_in_float32_under_autocast():
    x, mu, std = _random_gmm(8, 3, 32, dtype=torch.float32)
    plain = diagonal_gaussian_log_prob(x, mu, std)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        auto = diagonal_gaussian_log_prob(x.bfloat16(), mu, std)
    assert auto.dtype == torch.float32
    torch.testing.assert_close(auto, diagonal_gaussian_log_prob(x.bfloat16().float(), mu, std))
    assert plain.dtype == torch.float32


def test_log_prob_gradient_matches_distributions():
    x, mu, std = _random_gmm(4, 3, 8)
    x1 = x.clone().requires_grad_(True)
    diagonal_gaussian_log_prob(x1, mu, std).sum().backward()
    x2 = x.clone().requires_grad_(True)
    Independent(Normal(mu[None], std[None]), 1).log_prob(x2[:, None]).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)


class _LargestTensor(TorchDispatchMode):
    """Records the largest numel of any tensor an aten op returns."""

    def __init__(self):
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


def test_log_prob_never_builds_pixel_component_dim_tensor():
    num_pix, num_comp, dims = 64, 12, 48
    x, mu, std = _random_gmm(num_pix, num_comp, dims, dtype=torch.float32)
    with _LargestTensor() as rec:
        diagonal_gaussian_log_prob(x, mu, std)
    assert rec.largest <= max(num_pix * num_comp, num_pix * dims, num_comp * dims)


def test_log_prob_large_case_matmul_form():
    # 40k pixels x 95 components x 256 dims: the broadcast difference would be ~3.9 GB
    torch.manual_seed(0)
    x = torch.nn.functional.normalize(torch.randn(40_000, 256), dim=1)
    mu = torch.nn.functional.normalize(torch.randn(95, 256), dim=1)
    std = 0.1 + 0.2 * torch.rand(95, 256)
    out = diagonal_gaussian_log_prob(x, mu, std)
    assert out.shape == (40_000, 95) and torch.isfinite(out).all()
    rows = torch.arange(0, 40_000, 4_000)
    ref = Independent(Normal(mu.double()[None], std.double()[None]), 1).log_prob(
        x[rows].double()[:, None])
    assert (out[rows].double() - ref).abs().max() < 1e-3


def test_log_prob_rejects_bad_shapes():
    x, mu, std = _random_gmm(4, 3, 8)
    with pytest.raises(ValueError):
        diagonal_gaussian_log_prob(x, mu, std[:, :4])
    with pytest.raises(ValueError):
        diagonal_gaussian_log_prob(x[:, :4], mu, std)


def test_em_update_by_hand():
    # one component, two memory rows e1, e2 in 2-d: f = (1, 1)/sqrt(2)
    memory = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]], dtype=torch.float64)  # (M=1, S=2, D=2)
    means = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    stds = torch.ones(1, 2, dtype=torch.float64)
    new_mu, new_std = em_update(means, stds, memory, mean_momentum=0.5)
    # 0.5 e1 + 0.5 f points at 22.5 degrees
    c, s = math.cos(math.pi / 8), math.sin(math.pi / 8)
    torch.testing.assert_close(new_mu, torch.tensor([[c, s]], dtype=torch.float64))
    # biased variance about f: ((1 - a)^2 + a^2) / 2 = 1 - sqrt(2)/2, a = 1/sqrt(2)
    expected_std = math.sqrt(1.0 - math.sqrt(2.0) / 2.0 + 1e-2)
    torch.testing.assert_close(new_std, torch.full((1, 2), expected_std, dtype=torch.float64))
    # default momentum 0.999 and a half-kept std
    mu_d, std_d = em_update(means, stds, memory, std_momentum=0.5)
    raw = 0.999 * means + 0.001 * torch.tensor([[1.0, 1.0]], dtype=torch.float64) / math.sqrt(2)
    torch.testing.assert_close(mu_d, raw / raw.norm())
    torch.testing.assert_close(std_d, 0.5 * stds + 0.5 * expected_std)


def test_em_update_invariants_and_floor():
    torch.manual_seed(0)
    memory = torch.nn.functional.normalize(torch.randn(6, 20, 8), dim=-1)
    memory[0] = memory[0, :1]  # identical rows: zero variance -> std exactly 0.1
    means = torch.randn(6, 8)
    mu, std = em_update(means, torch.ones(6, 8), memory)
    torch.testing.assert_close(mu.norm(dim=1), torch.ones(6))
    assert (std >= 0.1 - 1e-7).all()
    torch.testing.assert_close(std[0], torch.full((8,), 0.1))
    f = torch.nn.functional.normalize(memory.sum(1), dim=-1)
    torch.testing.assert_close(std**2 - 1e-2, ((memory - f[:, None]) ** 2).mean(1))


def test_em_update_matches_float64_reference_without_big_temporaries():
    """All components in one call, equal to the direct float64 formula, and no op output
    as large as the (M, S, D) memory (the difference tensor of the direct formula)."""
    torch.manual_seed(0)
    memory = torch.nn.functional.normalize(torch.randn(30, 200, 16) + 0.5, dim=-1)
    means = torch.nn.functional.normalize(torch.randn(30, 16), dim=-1)
    stds = 0.1 + torch.rand(30, 16)
    with _LargestTensor() as rec:
        mu, std = em_update(means, stds, memory, std_momentum=0.25)
    assert rec.largest < memory.numel()
    mem64 = memory.double()
    f = torch.nn.functional.normalize(mem64.sum(1), dim=-1)
    ref_mu = torch.nn.functional.normalize(0.999 * means.double() + 0.001 * f, dim=-1)
    ref_var = ((mem64 - f[:, None]) ** 2).mean(1)
    ref_std = 0.25 * stds.double() + 0.75 * (ref_var + 1e-2).sqrt()
    assert (mu.double() - ref_mu).abs().max() < 1e-6
    assert (std.double() - ref_std).abs().max() < 1e-6


def _expected_even_selection(groups, num_groups, m):
    out = []
    for g in range(num_groups):
        members = [i for i, v in enumerate(groups) if v == g]
        n = len(members)
        k = min(n, m)
        ranks = [0] if k == 1 else [(j * (n - 1)) // (k - 1) for j in range(k)]
        out += [members[r] for r in ranks]
    return out


def _uneven_groups():
    groups = [0] * 50 + [1] * 3 + [-1] * 4 + [3] * 20 + [5] * 2 + [2]
    gen = torch.Generator().manual_seed(0)
    perm = torch.randperm(len(groups), generator=gen)
    return torch.tensor(groups)[perm]


def _slots(picked, keep):
    """Row values of the kept slots, group-major, as a flat list."""
    return picked[..., 0][keep].long().tolist()


def test_pick_evenly_per_group():
    groups = _uneven_groups()
    rows = torch.arange(groups.numel(), dtype=torch.float32)[:, None].repeat(1, 3)  # row i = i
    picked, keep = pick_evenly_per_group(rows, groups, num_groups=4, max_per_group=20)
    assert picked.shape == (4, 20, 3) and keep.shape == (4, 20)
    assert _slots(picked, keep) == _expected_even_selection(groups.tolist(), 4, 20)
    assert keep.sum(1).tolist() == [20, 3, 1, 20]
    # kept slots form a prefix of each row; the rest are zeros
    assert torch.equal(keep, torch.arange(20)[None] < keep.sum(1, keepdim=True))
    assert not picked[~keep].any()
    # first and last member of the big group are included
    members0 = torch.nonzero(groups == 0).squeeze(1)
    assert picked[0, 0, 0] == members0[0] and picked[0, 19, 0] == members0[-1]
    none, keep = pick_evenly_per_group(torch.ones(2, 3), torch.tensor([-1, 7]), 4, 20)
    assert not keep.any() and not none.any()
    empty, keep = pick_evenly_per_group(torch.ones(0, 3), torch.zeros(0, dtype=torch.long), 4, 2)
    assert empty.shape == (4, 2, 3) and not keep.any()
    with pytest.raises(ValueError):
        pick_evenly_per_group(rows, groups, 4, 0)


@pytest.mark.parametrize('splits', [(10, 60, 10), (0, 80), (40, 0, 0, 40), (1, 1, 78)])
def test_pick_evenly_split_over_ranks_sums_to_the_whole_pick(splits):
    """DDP: each rank picks its share of the rank-ordered sequence; the sum is the pick of
    the whole sequence (what the all-reduce in GMMClassifier.update relies on)."""
    groups = _uneven_groups()
    rows = torch.randn(groups.numel(), 5, generator=torch.Generator().manual_seed(1))
    whole, whole_keep = pick_evenly_per_group(rows, groups, 4, 7)
    bounds = torch.cumsum(torch.tensor((0, ) + splits), 0).tolist()
    shares = [(rows[a:b], groups[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    per_rank = torch.stack([torch.bincount(g[(g >= 0) & (g < 4)], minlength=4)
                            for _, g in shares])
    total = torch.zeros_like(whole)
    for rank, (r, g) in enumerate(shares):
        seen = []

        def share(counts, rank=rank, seen=seen):
            seen.append(counts)
            return per_rank[:rank].sum(0), per_rank.sum(0)

        picked, keep = pick_evenly_per_group(r, g, 4, 7, share=share)
        assert len(seen) == 1 and torch.equal(seen[0], per_rank[rank])  # its own counts
        assert torch.equal(keep, whole_keep)
        total += picked
    assert torch.equal(total, whole)


def test_ring_buffer_write_wraps():
    memory = torch.zeros(2, 5, 1)
    ptr = torch.tensor([3, 0])
    rows = torch.tensor([[1.0, 3.0, 4.0, 6.0], [2.0, 5.0, 7.0, 8.0]])[..., None]
    keep = torch.tensor([[True] * 4, [True, True, False, False]])  # group 1 writes 2, 5
    ring_buffer_write(memory, ptr, rows, keep)
    assert memory[0, :, 0].tolist() == [4.0, 6.0, 0.0, 1.0, 3.0]  # slots 3,4,0,1
    assert memory[1, :, 0].tolist() == [2.0, 5.0, 0.0, 0.0, 0.0]
    assert ptr.tolist() == [2, 2]
    ring_buffer_write(memory, ptr, rows + 10, torch.zeros(2, 4, dtype=torch.bool))
    assert memory[0, :, 0].tolist() == [4.0, 6.0, 0.0, 1.0, 3.0] and ptr.tolist() == [2, 2]
    with pytest.raises(ValueError, match='6 rows into a queue of 5'):
        ring_buffer_write(memory, ptr, torch.ones(2, 6, 1), torch.ones(2, 6, dtype=torch.bool))
