"""Exact pixel metrics: hand-worked values, sklearn equivalence, tricky inputs."""
import contextlib
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_curve
from sklearn_reference import sklearn_pixel_metrics

from mmseg_uem.evaluation.functional import (
    UndefinedMetricWarning,
    auroc,
    average_precision,
    best_f1_threshold,
    binary_clf_curve,
    fpr_at_tpr,
    metrics_from_sorted,
    pixel_metrics,
    sort_scores,
    split_by_label,
)

VOID = 255

# 8 valid pixels, P = 4, N = 4, two tie groups mixing a positive and a negative (0.8 and 0.5).
HAND_SCORES = [0.9, 0.8, 0.8, 0.7, 0.5, 0.5, 0.3, 0.1]
HAND_LABELS = [1, 0, 1, 1, 0, 1, 0, 0]
# distinct thresholds 0.9 0.8 0.7 0.5 0.3 0.1 -> TP 1 2 3 4 4 4, FP 0 1 1 2 3 4


def _hand(extra_void: bool = True):
    s, y = list(HAND_SCORES), list(HAND_LABELS)
    if extra_void:  # void pixels with extreme scores must not change anything
        s, y = s + [100.0, -100.0, 0.8], y + [VOID, VOID, VOID]
    return torch.tensor(s, dtype=torch.float64), torch.tensor(y)


def test_hand_worked_ap():
    # AP = 1/P * sum over TP steps of precision = 1/4 * (1/1 + 2/3 + 3/4 + 4/6) = 37/48
    assert average_precision(*_hand()) == pytest.approx(37 / 48, abs=1e-15)


def test_hand_worked_auroc():
    # pairs: 0.9 beats 4 negatives; 0.8 beats 3 and ties 1 (3.5); 0.7 beats 3;
    # 0.5 beats 2 and ties 1 (2.5) -> (4 + 3.5 + 3 + 2.5) / 16 = 13/16
    assert auroc(*_hand()) == pytest.approx(13 / 16, abs=1e-15)


def test_hand_worked_fpr():
    # TPR per threshold 0.25 0.5 0.75 1.0: the first >= 0.95 is at t = 0.5 with FP = 2 -> 2/4;
    # the first >= 0.5 is at t = 0.8 with FP = 1 -> 1/4
    assert fpr_at_tpr(*_hand()) == 0.5
    assert fpr_at_tpr(*_hand(), tpr=0.5) == 0.25
    assert fpr_at_tpr(*_hand(), tpr=0.75) == 0.25


def test_hand_worked_best_f1():
    # F1 = 2TP / (TP + FP + P) at t = 0.9 0.8 0.7 0.5: 2/5, 4/7, 6/8, 8/10 -> t* = 0.5, F1 0.8
    pos, neg = split_by_label(*_hand())
    thr, f1 = best_f1_threshold(sort_scores(pos), sort_scores(neg))
    assert thr == 0.5 and f1 == pytest.approx(0.8)


def _random_case(rng, n: int, levels: int, p_pos: float, p_void: float, p_inf: float):
    scores = np.round(rng.standard_normal(n) * levels / 4) / levels  # heavy ties
    labels = (rng.random(n) < p_pos).astype(np.int64)
    scores[labels == 1] += 0.5
    scores[rng.random(n) < p_inf] = np.inf
    scores[rng.random(n) < p_inf] = -np.inf
    labels[rng.random(n) < p_void] = VOID
    labels[:2] = [0, 1]  # both classes present
    return scores, labels


@pytest.mark.parametrize('n,levels', [(2, 3), (9, 2), (100, 8), (5000, 16), (200_000, 64)])
def test_equals_sklearn(n, levels):
    rng = np.random.default_rng(n)
    scores, labels = _random_case(rng, n, levels, p_pos=0.2, p_void=0.1, p_inf=0.01)
    ours = pixel_metrics(torch.from_numpy(scores), torch.from_numpy(labels))
    ref = sklearn_pixel_metrics(scores, labels)
    for key in ref:
        assert ours[key] == pytest.approx(ref[key], abs=1e-9), key


@pytest.mark.parametrize('tpr', [0.5, 0.9, 0.95, 0.999, 1.0])
def test_fpr_levels_equal_sklearn_rule(tpr):
    rng = np.random.default_rng(1)
    scores, labels = _random_case(rng, 3000, 8, p_pos=0.3, p_void=0.0, p_inf=0.0)
    ours = fpr_at_tpr(torch.from_numpy(scores), torch.from_numpy(labels), tpr=tpr)
    assert ours == pytest.approx(sklearn_pixel_metrics(scores, labels, tpr=tpr)['FPR95'], abs=1e-12)


def test_float32_and_order_invariance():
    rng = np.random.default_rng(2)
    scores, labels = _random_case(rng, 20_000, 32, p_pos=0.05, p_void=0.1, p_inf=0.001)
    s64, y = torch.from_numpy(scores), torch.from_numpy(labels)
    ref = pixel_metrics(s64, y)
    assert pixel_metrics(s64.float(), y) == ref  # quantised scores are float32-exact
    assert pixel_metrics(s64.half(), y) == ref
    perm = torch.from_numpy(rng.permutation(scores.size))
    assert pixel_metrics(s64[perm], y[perm]) == ref  # bit-identical, not just close
    # shards (images, ranks) are split separately and pooled
    (pos_a, neg_a), (pos_b, neg_b) = split_by_label(s64[:500], y[:500]), split_by_label(
        s64[500:], y[500:])
    pooled = metrics_from_sorted(sort_scores(torch.cat([pos_b, pos_a])),
                                 sort_scores(torch.cat([neg_b, neg_a])))
    assert pooled == ref


def test_2d_maps_and_minus_zero():
    scores = torch.tensor([[-0.0, 0.0], [1.0, 0.0]])
    labels = torch.tensor([[1, 0], [1, 0]])
    # -0.0 ties with +0.0: thresholds 1.0 (TP 1) and 0 (TP 2, FP 2) -> AP = (1 + 2/4) / 2
    assert average_precision(scores, labels) == pytest.approx(0.75)
    assert auroc(scores, labels) == pytest.approx((1.0 + 0.5) / 2)


def test_constant_scores():
    labels = torch.tensor([1, 0, 0, 1, 0, 0, VOID])
    out = pixel_metrics(torch.full((7,), 3.0), labels)
    assert out == dict(AP=pytest.approx(2 / 6), AUROC=0.5, FPR95=1.0)


def test_infinities_are_ranked():
    scores = torch.tensor([math.inf, math.inf, 1.0, -math.inf, -math.inf])
    labels = torch.tensor([1, 1, 0, 0, 1])
    # TP/FP at +inf: 2/0, at 1: 2/1, at -inf: 3/2 -> AP = (2*1 + 1*3/5) / 3
    out = pixel_metrics(scores, labels)
    assert out['AP'] == pytest.approx((2 + 3 / 5) / 3)
    assert out['AUROC'] == pytest.approx((2 * 2 + 0.5) / 6)  # last positive ties one negative
    assert out['FPR95'] == 1.0


def test_no_positives_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match='no positive'):
        out = pixel_metrics(torch.rand(10), torch.zeros(10, dtype=torch.long))
    assert all(math.isnan(v) for v in out.values()) and len(out) == 3


def test_no_negatives():
    labels = torch.tensor([1, 1, VOID])
    with pytest.warns(UndefinedMetricWarning, match='no negative'):
        out = pixel_metrics(torch.tensor([0.1, 0.2, 0.3]), labels)
    assert out['AP'] == 1.0  # sklearn's value
    assert math.isnan(out['AUROC']) and math.isnan(out['FPR95'])


def test_only_void():
    with pytest.warns(UndefinedMetricWarning):
        out = pixel_metrics(torch.rand(4), torch.full((4,), VOID))
    assert all(math.isnan(v) for v in out.values())


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='NaN.*frame_7'):
        split_by_label(torch.tensor([0.1, math.nan]), torch.tensor([0, 1]), name='frame_7')
    with pytest.raises(ValueError, match=r'\[2\]'):
        pixel_metrics(torch.rand(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='shape'):
        pixel_metrics(torch.rand(3), torch.tensor([0, 1]))
    with pytest.raises(TypeError):
        pixel_metrics(torch.tensor([1, 2]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='tpr'):
        fpr_at_tpr(torch.rand(3), torch.tensor([0, 1, 1]), tpr=0.0)
    with pytest.raises(KeyError):
        pixel_metrics(torch.rand(3), torch.tensor([0, 1, 1]), metrics=('mIoU',))


def test_ignore_index_argument():
    scores, labels = _hand(extra_void=False)
    labels = torch.cat([labels, torch.tensor([254, 254])])
    scores = torch.cat([scores, torch.tensor([5.0, -5.0], dtype=torch.float64)])
    assert average_precision(scores, labels, ignore_index=254) == pytest.approx(37 / 48)


def test_curve_equals_sklearn_roc_curve():
    rng = np.random.default_rng(3)
    scores, labels = _random_case(rng, 500, 8, p_pos=0.3, p_void=0.0, p_inf=0.0)
    pos, neg = split_by_label(torch.from_numpy(scores), torch.from_numpy(labels))
    thr, tp, fp = binary_clf_curve(sort_scores(pos), sort_scores(neg))
    fpr, tpr, ref_thr = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_array_equal(thr.numpy(), ref_thr[1:])
    np.testing.assert_allclose(tp.numpy() / tp[-1].item(), tpr[1:], rtol=0, atol=1e-15)
    np.testing.assert_allclose(fp.numpy() / fp[-1].item(), fpr[1:], rtol=0, atol=1e-15)


def test_best_f1_equals_brute_force():
    rng = np.random.default_rng(4)
    scores, labels = _random_case(rng, 400, 6, p_pos=0.2, p_void=0.0, p_inf=0.0)
    pos, neg = split_by_label(torch.from_numpy(scores), torch.from_numpy(labels))
    thr, f1 = best_f1_threshold(sort_scores(pos), sort_scores(neg))
    cands = np.unique(scores)[::-1]
    f1s = [2 * ((scores >= t) & (labels == 1)).sum()
           / ((scores >= t).sum() + (labels == 1).sum()) for t in cands]
    assert f1 == pytest.approx(max(f1s)) and thr == cands[int(np.argmax(f1s))]


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_equals_cpu():
    rng = np.random.default_rng(5)
    scores, labels = _random_case(rng, 100_000, 32, p_pos=0.05, p_void=0.1, p_inf=0.001)
    s, y = torch.from_numpy(scores).float(), torch.from_numpy(labels)
    assert pixel_metrics(s.cuda(), y.cuda()) == pixel_metrics(s, y)


@contextlib.contextmanager
def _strict():
    with warnings.catch_warnings():
        warnings.simplefilter('error', UndefinedMetricWarning)
        yield


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.integers(-4, 4).map(float),
                                    st.sampled_from([math.inf, -math.inf])),
                          st.sampled_from([0, 1, VOID])),
                min_size=1, max_size=60))
def test_fuzz_against_sklearn(pixels):
    scores = np.array([s for s, _ in pixels], dtype=np.float64) / 2  # few levels: many ties
    labels = np.array([y for _, y in pixels], dtype=np.int64)
    valid = labels != VOID
    num_pos = int((labels[valid] == 1).sum())
    num_neg = int(valid.sum()) - num_pos
    with pytest.warns(UndefinedMetricWarning) if not (num_pos and num_neg) else _strict():
        ours = pixel_metrics(torch.from_numpy(scores), torch.from_numpy(labels))
    if num_pos == 0:
        assert all(math.isnan(v) for v in ours.values())
    elif num_neg == 0:
        assert ours['AP'] == 1.0 and math.isnan(ours['AUROC']) and math.isnan(ours['FPR95'])
    else:
        ref = sklearn_pixel_metrics(scores, labels)
        for key in ref:
            assert ours[key] == pytest.approx(ref[key], abs=1e-9), key
