"""Tests of the log-domain Sinkhorn-Knopp against an exp-domain float64 reference."""
import pytest
import torch

from mmseg_uem.models.utils.sinkhorn import sinkhorn_knopp


def _exp_domain_reference(scores, num_iters, epsilon):
    """Plain float64 Sinkhorn on exp(scores / eps), iterating marginals as GMMSeg describes."""
    s = scores.double() / scores.double().abs().max()
    q = torch.exp(s / epsilon).t()  # (C, P)
    q = q / q.sum()
    num_comp, num_pix = q.shape
    for _ in range(num_iters):
        q = q / q.sum(1, keepdim=True) / num_comp
        q = q / q.sum(0, keepdim=True) / num_pix
    return (q * num_pix).t()


def _skewed_scores(num_pix=1000, num_comp=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(num_pix, num_comp, generator=g)
    scores[:, 0] += 1.5  # raw argmax would put most pixels in component 0
    return scores


def test_rows_sum_to_one_and_columns_balance():
    scores = _skewed_scores()
    q, assign = sinkhorn_knopp(scores)
    assert q.dtype == torch.float32 and q.shape == (1000, 5)
    torch.testing.assert_close(q.sum(1), torch.ones(1000), rtol=0, atol=1e-5)
    # after 3 iterations the columns are near P/C; with more iterations they converge to it
    assert ((q.sum(0) / 200 - 1).abs() < 0.25).all()
    q_long, _ = sinkhorn_knopp(scores, num_iters=200)
    torch.testing.assert_close(q_long.sum(0), torch.full((5,), 200.0), rtol=1e-3, atol=0)
    torch.testing.assert_close(q_long.sum(1), torch.ones(1000), rtol=0, atol=1e-5)
    # hard assignment is balanced, unlike the raw argmax
    counts = torch.bincount(assign, minlength=5)
    raw = torch.bincount(scores.argmax(1), minlength=5)
    assert raw.max() > 400 and counts.max() < 300 and counts.min() > 100


@pytest.mark.parametrize('num_iters', [1, 3, 10])
def test_matches_exp_domain_float64(num_iters):
    scores = _skewed_scores(num_pix=300, num_comp=4, seed=1)
    q, assign = sinkhorn_knopp(scores, num_iters=num_iters, epsilon=0.05)
    ref = _exp_domain_reference(scores, num_iters, 0.05)
    torch.testing.assert_close(q.double(), ref, rtol=1e-4, atol=1e-5)
    assert torch.equal(assign, ref.argmax(1))
    q64, _ = sinkhorn_knopp(scores.double(), num_iters=num_iters)
    assert q64.dtype == torch.float64
    torch.testing.assert_close(q64, ref, rtol=1e-10, atol=1e-12)


def test_half_input_is_upcast_and_finite():
    scores = (_skewed_scores(200, 5) * 40).half()  # exp(1/0.05) would overflow fp16
    q, assign = sinkhorn_knopp(scores)
    assert q.dtype == torch.float32 and torch.isfinite(q).all()
    ref = _exp_domain_reference(scores.float(), 3, 0.05)
    torch.testing.assert_close(q.double(), ref, rtol=1e-4, atol=1e-5)


def test_degenerate_inputs():
    q, assign = sinkhorn_knopp(torch.zeros(6, 3))
    torch.testing.assert_close(q, torch.ones(6, 3) / 3)
    q, assign = sinkhorn_knopp(torch.zeros(0, 3))
    assert q.shape == (0, 3) and assign.shape == (0,)
    with pytest.raises(ValueError):
        sinkhorn_knopp(torch.zeros(4))
    with pytest.raises(ValueError):
        sinkhorn_knopp(torch.zeros(4, 2), epsilon=0.0)


def test_grouped_sinkhorn_equals_per_group_calls():
    from mmseg_uem.models.utils.sinkhorn import grouped_sinkhorn_knopp

    gen = torch.Generator().manual_seed(3)
    scores = torch.randn(600, 5, generator=gen, dtype=torch.float64) * 4 - 30
    groups = torch.randint(0, 7, (600, ), generator=gen)
    groups[groups == 2] = 3  # group 2 empty
    groups[:1] = 6
    groups[groups == 6] = 5
    groups[0] = 6  # a group with one row
    q, assignment = grouped_sinkhorn_knopp(scores, groups, 7)
    for g in groups.unique().tolist():
        rows = groups == g
        q_ref, a_ref = sinkhorn_knopp(scores[rows])
        torch.testing.assert_close(q[rows], q_ref, rtol=1e-10, atol=1e-12)
        assert torch.equal(assignment[rows], a_ref)
    torch.testing.assert_close(q.sum(1), torch.ones(600, dtype=torch.float64))


def test_grouped_sinkhorn_marginals_converge_per_group():
    from mmseg_uem.models.utils.sinkhorn import grouped_sinkhorn_knopp

    gen = torch.Generator().manual_seed(4)
    scores = torch.randn(900, 4, generator=gen)
    groups = torch.randint(0, 3, (900, ), generator=gen)
    q, _ = grouped_sinkhorn_knopp(scores, groups, 3, num_iters=300)
    for g in range(3):
        rows = groups == g
        torch.testing.assert_close(q[rows].sum(0), torch.full((4, ), rows.sum() / 4.0),
                                   rtol=1e-3, atol=1e-3)
