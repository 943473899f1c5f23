"""Bounded-memory histogram metrics: key order, bounds around the exact metric, merging."""
import math

import numpy as np
import pytest
import torch

from mmseg_uem.evaluation.functional import (
    ScoreHistogram,
    UndefinedMetricWarning,
    bin_lower_edge,
    histogram_metrics,
    pixel_metrics,
    score_bins,
)

SPECIAL = [-math.inf, -3.4e38, -1.0, -1e-40, -0.0, 0.0, 1e-45, 1e-40, 1.0, 3.4e38, math.inf]


def _uint32_key_reference(x: np.ndarray, bits: int) -> np.ndarray:
    """The key of ``histogram.py``'s docstring written literally with numpy uint32 arithmetic."""
    x = np.where(x == 0, np.float32(0), x).astype(np.float32)
    b = x.view(np.uint32)
    key = np.where(b & np.uint32(0x80000000), ~b, b | np.uint32(0x80000000))
    return (key >> np.uint32(32 - bits)).astype(np.int64)


@pytest.mark.parametrize('bits', [8, 13, 20, 24, 32])
def test_bins_match_uint32_definition_and_preserve_order(bits):
    rng = np.random.default_rng(bits)
    x = np.concatenate([SPECIAL, rng.standard_normal(5000) * np.exp(rng.normal(0, 20, 5000))])
    x = np.sort(x.astype(np.float32))
    ours = score_bins(torch.from_numpy(x), bits=bits).numpy()
    np.testing.assert_array_equal(ours, _uint32_key_reference(x, bits))
    assert (np.diff(ours) >= 0).all() and ours.min() >= 0 and ours.max() < 2 ** bits
    if bits == 32:  # every float32 value is its own bin
        np.testing.assert_array_equal(np.diff(ours) > 0, np.diff(x) > 0)


def test_minus_zero_shares_the_bin_of_zero():
    bins = score_bins(torch.tensor([-0.0, 0.0]), bits=32)
    assert bins[0] == bins[1] == 2 ** 31


@pytest.mark.parametrize('bits', [8, 20, 32])
def test_lower_edge_round_trip(bits):
    x = torch.tensor(SPECIAL + [0.3, -7.5, 123.0], dtype=torch.float32)
    bins = score_bins(x, bits=bits)
    edges = bin_lower_edge(bins, bits=bits)
    assert torch.equal(score_bins(edges, bits=bits), bins)
    assert (edges <= x).all()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='NaN'):
        score_bins(torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match='bits'):
        score_bins(torch.zeros(2), bits=7)
    with pytest.raises(ValueError, match='bits'):
        ScoreHistogram.from_scores(torch.zeros(2), torch.zeros(2), bits=33)
    with pytest.raises(ValueError, match=r'\[7\]'):
        ScoreHistogram.from_scores(torch.zeros(2), torch.tensor([0, 7]))
    with pytest.raises(ValueError, match='different bits'):
        ScoreHistogram.merge([ScoreHistogram.from_scores(torch.zeros(2), torch.tensor([0, 1])),
                              ScoreHistogram.from_scores(torch.zeros(2), torch.tensor([0, 1]),
                                                         bits=16)])


def _synthetic(n: int, seed: int, quantise: bool = False):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.03).astype(np.int64)
    scores = rng.standard_normal(n) + 3.0 * labels  # an LLR-like separation
    if quantise:
        scores = np.round(scores * 8) / 8
    labels[rng.random(n) < 0.05] = 255
    return torch.from_numpy(scores.astype(np.float32)), torch.from_numpy(labels)


@pytest.mark.parametrize('bits', [8, 12, 16, 20, 26])
@pytest.mark.parametrize('quantise', [False, True])
def test_exact_metric_lies_within_bounds(bits, quantise):
    scores, labels = _synthetic(100_000, bits, quantise)
    exact = pixel_metrics(scores, labels)
    binned = histogram_metrics(scores, labels, bits=bits)
    for key, value in exact.items():
        assert binned[f'{key}_lo'] <= value <= binned[f'{key}_hi'], (key, binned, value)
        assert binned[f'{key}_lo'] <= binned[key] <= binned[f'{key}_hi']


def test_20_bits_is_within_1e4_ap():
    scores, labels = _synthetic(400_000, 0)
    exact = pixel_metrics(scores, labels)
    binned = histogram_metrics(scores, labels, bits=20)
    assert abs(binned['AP'] - exact['AP']) < 1e-4
    assert binned['AP_hi'] - binned['AP_lo'] < 5e-4
    assert abs(binned['AUROC'] - exact['AUROC']) < 1e-6
    assert abs(binned['FPR95'] - exact['FPR95']) < 1e-4


def test_32_bits_is_exact_for_float32_scores():
    scores, labels = _synthetic(50_000, 1, quantise=True)
    exact = pixel_metrics(scores, labels)
    binned = histogram_metrics(scores, labels, bits=32)
    for key, value in exact.items():
        assert binned[key] == pytest.approx(value, abs=1e-12)


def test_merge_equals_pooled_and_is_order_independent():
    scores, labels = _synthetic(30_000, 2)
    parts = [ScoreHistogram.from_scores(s, y, bits=20)
             for s, y in zip(scores.chunk(3), labels.chunk(3))]
    whole = ScoreHistogram.from_scores(scores, labels, bits=20)
    for merged in (ScoreHistogram.merge(parts), ScoreHistogram.merge(parts[::-1])):
        assert torch.equal(merged.bins, whole.bins)
        assert torch.equal(merged.pos, whole.pos) and torch.equal(merged.neg, whole.neg)
    dense = sum(p.to_dense() for p in parts)  # what an all-reduce of two vectors yields
    assert ScoreHistogram.from_dense(dense[0], dense[1], bits=20).metrics() == whole.metrics()


def test_sparse_path_for_wide_keys():
    scores, labels = _synthetic(20_000, 3, quantise=True)
    wide = ScoreHistogram.from_scores(scores, labels, bits=28)  # unique-based path
    valid = labels != 255
    ref_bins, ref_counts = np.unique(score_bins(scores[valid], bits=28).numpy(),
                                     return_counts=True)
    np.testing.assert_array_equal(wide.bins.numpy(), ref_bins)
    np.testing.assert_array_equal((wide.pos + wide.neg).numpy(), ref_counts)
    assert wide.num_pos == int((labels == 1).sum())


def test_tricky_inputs():
    labels = torch.tensor([1, 0, 0, 1, 0, 0, 255])
    const = histogram_metrics(torch.full((7,), 2.5), labels)
    assert const['AP'] == pytest.approx(2 / 6) and const['AUROC'] == 0.5
    assert const['FPR95'] == 1.0
    inf = histogram_metrics(torch.tensor([math.inf, -math.inf, 0.0, 1.0]),
                            torch.tensor([1, 0, 0, 1]), bits=8)
    assert inf['AUROC'] == 1.0 and inf['AP'] == 1.0
    with pytest.warns(UndefinedMetricWarning, match='no positive'):
        out = histogram_metrics(torch.rand(5), torch.zeros(5, dtype=torch.long))
    assert len(out) == 9 and all(math.isnan(v) for v in out.values())
    with pytest.warns(UndefinedMetricWarning, match='no negative'):
        out = histogram_metrics(torch.rand(5), torch.ones(5, dtype=torch.long))
    assert out['AP'] == 1.0 and math.isnan(out['AUROC']) and math.isnan(out['FPR95_lo'])
