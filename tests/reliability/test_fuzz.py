"""Hypothesis fuzzing of the pure functions (modest example counts: the suite must stay fast).

- pixel metrics (AP, AUROC, FPR95) against sklearn on random scores with many ties, void
  pixels and +-inf;
- Sinkhorn: rows sum to 1 after any number of iterations; with many iterations each column
  sums to P / C;
- the LLR = O1 - O0 - max_k F_k is increasing in O1, decreasing in O0 and in max_k F_k, and
  does not depend on the non-maximal F_k.
"""
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn_reference import sklearn_pixel_metrics

from mmseg_uem.evaluation.functional import pixel_metrics
from mmseg_uem.models.utils import anomaly_score, sinkhorn_knopp


@pytest.fixture(autouse=True)
def _one_thread():
    """One torch thread: on a loaded 2-core machine two spinning threads are much slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@st.composite
def _scored_pixels(draw):
    n = draw(st.integers(4, 300))
    labels = draw(arrays(np.uint8, n, elements=st.sampled_from([0, 1, 255])))
    # few distinct values: many ties; +-inf sometimes
    levels = draw(st.lists(st.floats(-5, 5, allow_nan=False, width=32), min_size=1,
                           max_size=6))
    levels += draw(st.sampled_from([[], [np.inf], [-np.inf], [np.inf, -np.inf]]))
    scores = np.asarray(draw(st.lists(st.sampled_from(levels), min_size=n, max_size=n)),
                        dtype=np.float32)
    labels[:2] = (1, 0)  # both classes present (else the metrics are undefined: nan)
    return scores, labels


@FUZZ
@given(_scored_pixels())
def test_pixel_metrics_equal_sklearn_with_ties_voids_and_infinities(case):
    scores, labels = case
    valid = labels != 255
    ys, ss = labels[valid], scores[valid].astype(np.float64)
    ours = pixel_metrics(torch.from_numpy(scores), torch.from_numpy(labels))
    # sklearn refuses +-inf: replace them by finite values beyond the range (same order)
    finite = ss[np.isfinite(ss)]
    lo, hi = (finite.min() - 1, finite.max() + 1) if finite.size else (-1.0, 1.0)
    ss = np.where(ss == np.inf, hi, np.where(ss == -np.inf, lo, ss))
    ref = sklearn_pixel_metrics(ss, ys)
    assert ours['AP'] == pytest.approx(ref['AP'], abs=1e-12)
    assert ours['AUROC'] == pytest.approx(ref['AUROC'], abs=1e-12)
    assert ours['FPR95'] == pytest.approx(ref['FPR95'], abs=1e-12)


@FUZZ
@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 5),
       st.floats(0.02, 1.0), st.integers(0, 2**31 - 1))
def test_sinkhorn_rows_always_sum_to_one(rows, cols, iters, epsilon, seed):
    scores = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed)) * 10
    q, assignment = sinkhorn_knopp(scores, num_iters=iters, epsilon=epsilon)
    assert q.dtype == torch.float32 and torch.isfinite(q).all() and (q >= 0).all()
    torch.testing.assert_close(q.sum(1), torch.ones(rows), rtol=0, atol=1e-5)
    assert torch.equal(assignment, q.argmax(1))


@FUZZ
@given(st.integers(2, 6), st.integers(1, 8), st.floats(0.3, 1.0), st.integers(0, 2**31 - 1))
def test_sinkhorn_columns_converge_to_rows_over_components(cols, per_col, epsilon, seed):
    rows = cols * per_col + int(seed % cols)  # P need not be a multiple of C
    scores = torch.rand(rows, cols, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    q, _ = sinkhorn_knopp(scores.double(), num_iters=300, epsilon=epsilon)
    torch.testing.assert_close(q.sum(1), torch.ones(rows, dtype=torch.float64))
    torch.testing.assert_close(q.sum(0), torch.full((cols, ), rows / cols, dtype=torch.float64),
                               rtol=1e-6, atol=1e-6)


_finite = st.floats(-50, 50, allow_nan=False, width=32)


@FUZZ
@given(arrays(np.float32, (1, 4, 2, 3), elements=_finite),
       arrays(np.float32, (1, 2, 2, 3), elements=_finite),
       st.floats(0.01, 10), st.integers(0, 5))
def test_llr_is_monotone_in_each_term(f, o, delta, pixel):
    f, o = torch.from_numpy(f), torch.from_numpy(o)
    y, x = divmod(pixel, 3)
    base = anomaly_score(f, o, mode='LLR')
    torch.testing.assert_close(base, o[:, 1:] - o[:, :1] - f.amax(1, keepdim=True))

    def at(score):
        return float(score[0, 0, y, x])

    o1 = o.clone()
    o1[0, 1, y, x] += delta
    assert at(anomaly_score(f, o1, mode='LLR')) > at(base)  # more outlier evidence
    o0 = o.clone()
    o0[0, 0, y, x] += delta
    assert at(anomaly_score(f, o0, mode='LLR')) < at(base)  # more generic-inlier evidence
    k = int(f[0, :, y, x].argmax())
    f_max = f.clone()
    f_max[0, k, y, x] += delta
    assert at(anomaly_score(f_max, o, mode='LLR')) < at(base)  # a more confident inlier class
    f_low = f.clone()  # lowering a non-maximal class score changes nothing
    others = [c for c in range(4) if c != k]
    f_low[0, others, y, x] -= delta
    assert at(anomaly_score(f_low, o, mode='LLR')) == at(base)
    # every other pixel is untouched by these edits
    mask = torch.ones_like(base, dtype=torch.bool)
    mask[0, 0, y, x] = False
    assert torch.equal(anomaly_score(f_max, o1, mode='LLR')[mask], base[mask])
