"""SMIYC component metrics: a hand-built frame and a literal reference on random blobs."""
import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from mmseg_uem.evaluation.functional import (
    SIOU_TAUS,
    aggregate_components,
    best_f1_threshold,
    component_metrics,
    image_components,
    sort_scores,
    split_by_label,
)

VOID = 255


def _hand_frame():
    """20x20 frame; scores are 1 where predicted, 0 elsewhere (threshold 0.5).

    GT components (label 1): A rows 2-5 x cols 2-5 (16 px), B rows 2-3 x cols 8-9 (4 px),
    D rows 12-13 x cols 16-17 (4 px, never predicted), C the single pixel (16, 16) (under
    min_gt_size = 2, so it turns void). Row 19 is void.
    Predicted components: X rows 2-5 x cols 4-9 (24 px: 8 on A, 4 on B, 12 inlier),
    Y rows 5-6 x cols 1-2 (4 px: (5, 2) on A, 3 inlier), Z the diagonal (10,10) (11,11) (12,12)
    (3 px, one component only under 8-connectivity), W the pixel (14, 2) (under min_pred_size
    = 2: removed), V (16,16) (16,17) (2 px; (16,16) becomes void with C, 1 inlier px stays in
    the ROI), and predictions on the void row (zeroed).
    """
    labels = np.zeros((20, 20), np.uint8)
    labels[2:6, 2:6] = 1
    labels[2:4, 8:10] = 1
    labels[12:14, 16:18] = 1
    labels[16, 16] = 1
    labels[19, :] = VOID
    scores = np.zeros((20, 20), np.float32)
    scores[2:6, 4:10] = 1
    scores[5:7, 1:3] = 1
    for i in (10, 11, 12):
        scores[i, i] = 1
    scores[14, 2] = 1
    scores[16, 16:18] = 1
    scores[19, :6] = 1
    return scores, labels


def test_hand_built_frame():
    scores, labels = _hand_frame()
    out = image_components(scores, labels, threshold=0.5, min_pred_size=2, min_gt_size=2)
    # sIoU(A) = |A n (X u Y)| / (|A| + bg(X) + bg(Y)) = (8 + 1) / (16 + 12 + 3)
    #   (literal form: |X u Y| + |A| - 9 - |X n B| = 28 + 16 - 9 - 4 = 31)
    # sIoU(B) = 4 / (4 + 12) (literal: 24 + 4 - 4 - |X n A| = 16); sIoU(D) = 0
    np.testing.assert_allclose(out['sIoU'], [9 / 31, 4 / 16, 0.0])
    np.testing.assert_array_equal(out['gt_size'], [16, 4, 4])
    # PPV: X 12/24, Y 1/4, Z 0/3, V 0/1 (its void pixel is outside the ROI)
    np.testing.assert_allclose(out['PPV'], [0.5, 0.25, 0.0, 0.0])
    np.testing.assert_array_equal(out['pred_size'], [24, 4, 3, 1])

    agg = aggregate_components([out])
    assert agg['sIoU'] == pytest.approx((9 / 31 + 0.25) / 3)
    assert agg['PPV'] == pytest.approx(0.75 / 4)
    # tau = 0.25: TP = 2 (A, B), FN = 1 (D), FP = 2 (Z, V; PPV(Y) = 0.25 is not < 0.25)
    # -> F1 = 4 / 7; tau >= 0.30: TP = 0 -> F1 = 0; mean over 11 taus = 4 / 77
    assert agg['F1_25'] == pytest.approx(4 / 7)
    assert agg['F1_50'] == 0.0 and agg['F1_75'] == 0.0
    assert agg['mF1'] == pytest.approx(4 / 77)


def test_default_track_sizes_filter_everything_small():
    scores, labels = _hand_frame()
    out = image_components(torch.from_numpy(scores)[None], torch.from_numpy(labels)[None],
                           threshold=0.5)  # anomaly track: 500 / 100 px
    assert out['sIoU'].size == 0 and out['PPV'].size == 0
    agg = aggregate_components([out])
    assert math.isnan(agg['sIoU']) and math.isnan(agg['PPV']) and math.isnan(agg['mF1'])


def _literal_reference(scores, labels, threshold, min_pred, min_gt):
    """The definitions applied one component at a time, with set operations."""
    void = labels == VOID
    eight = np.ones((3, 3))
    gt, n_gt = ndimage.label(labels == 1, structure=eight)
    pred, n_pred = ndimage.label((scores >= threshold) & ~void, structure=eight)
    for j in range(1, n_pred + 1):
        if (pred == j).sum() < min_pred:
            pred[pred == j] = 0
    labels = labels.copy()
    for k in range(1, n_gt + 1):
        if (gt == k).sum() < min_gt:
            labels[gt == k] = VOID
    roi = labels != VOID
    gt, pred = gt[roi], pred[roi]
    siou, ppv = [], []
    for k in np.unique(gt[gt > 0]):
        touching = np.unique(pred[(gt == k) & (pred > 0)])
        in_k_hat = np.isin(pred, touching)
        inter = np.sum((gt == k) & in_k_hat)
        adjust = np.sum(in_k_hat & (gt > 0) & (gt != k))
        siou.append(inter / (in_k_hat.sum() + (gt == k).sum() - inter - adjust))
    for j in np.unique(pred[pred > 0]):
        ppv.append(np.sum((pred == j) & (gt > 0)) / np.sum(pred == j))
    return np.array(siou), np.array(ppv)


@pytest.mark.parametrize('seed', range(4))
def test_equals_literal_definition_on_random_blobs(seed):
    rng = np.random.default_rng(seed)
    smooth = ndimage.gaussian_filter(rng.standard_normal((64, 80)), 2.5)
    labels = (ndimage.gaussian_filter(rng.standard_normal((64, 80)), 2.0) > 0.12).astype(np.uint8)
    labels[rng.random((64, 80)) < 0.02] = VOID
    labels[:, :3] = VOID
    scores = smooth + 0.1 * labels
    out = image_components(scores, labels, threshold=0.05, min_pred_size=12, min_gt_size=6)
    siou, ppv = _literal_reference(scores, labels, 0.05, 12, 6)
    assert siou.size > 2 and ppv.size > 2
    np.testing.assert_allclose(out['sIoU'], siou, rtol=0, atol=1e-15)
    np.testing.assert_allclose(out['PPV'], ppv, rtol=0, atol=1e-15)


def test_dataset_pipeline_pools_frames():
    scores, labels = _hand_frame()
    frames_s, frames_l = [scores, scores[:, ::-1].copy()], [labels, labels[:, ::-1].copy()]
    pos, neg = split_by_label(torch.from_numpy(np.stack(frames_s)),
                              torch.from_numpy(np.stack(frames_l)))
    threshold, _ = best_f1_threshold(sort_scores(pos), sort_scores(neg))
    assert threshold == 1.0
    out = component_metrics(frames_s, frames_l, threshold=threshold, min_pred_size=2,
                            min_gt_size=2)
    single = aggregate_components([image_components(scores, labels, threshold=1.0,
                                                    min_pred_size=2, min_gt_size=2)])
    # the mirrored frame has the same components: every mean and F1 is unchanged
    assert out == pytest.approx(single)
    assert len(SIOU_TAUS) == 11 and SIOU_TAUS[0] == 0.25 and SIOU_TAUS[-1] == 0.75
