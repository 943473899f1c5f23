"""Component-level anomaly metrics of the SMIYC anomaly / obstacle tracks: sIoU, PPV, mean F1.

Shape key: H, W image size, G ground-truth components, J predicted components.

Definitions follow SegmentMeIfYouCan/road-anomaly-benchmark
``road_anomaly_benchmark/metrics/instance_segmentation.py``:
- prediction = score >= t*, zeroed in void, with t* the dataset's F1-optimal threshold
  (:func:`..pixel_metrics.best_f1_threshold`; the tool writes ``score > t`` with t the lower edge
  of a histogram bin, i.e. the same operating point up to its binning);
- 8-connected components (3x3 structure) of the GT anomaly mask (label == 1) and of the
  prediction; predicted components under ``min_pred_size`` px are removed and GT components
  under ``min_gt_size`` px become void; everything is then restricted to the non-void ROI;
- sIoU(k) = |k n K(k)| / (|K(k)| + |k| - |k n K(k)| - |K(k) n A(k)|), K(k) the predicted
  components touching GT component k and A(k) the other GT components. Splitting
  |K(k)| = |K(k) n bg| + |K(k) n k| + |K(k) n A(k)| gives the equivalent
  sIoU(k) = |k n K(k)| / (|k| + sum_{j in K(k)} |j n bg|), bg = the ROI's inlier pixels;
- PPV(j) = |j n any GT component| / |j|;
- at each tau in linspace(0.25, 0.75, 11): TP = #GT components with sIoU >= tau, FN = the rest,
  FP = #predicted components with PPV < tau, summed over frames; F1 = 2TP / (2TP + FN + FP);
  mean F1 averages the 11 taus; sIoU and PPV are means over all components of the dataset.
Track presets: anomaly track min sizes 500 / 100 px, obstacle track 50 / 10 px.
"""
from typing import Dict, Sequence, Union

import numpy as np
import torch
from scipy import ndimage

from ...utils.labels import IGNORE_INDEX

#: the SMIYC component metrics (the one list of their names)
COMPONENT_METRICS = ('sIoU', 'PPV', 'mF1')
SIOU_TAUS = tuple(np.linspace(0.25, 0.75, 11))
EIGHT_CONNECTED = np.ones((3, 3), dtype=np.uint8)

ArrayLike = Union[np.ndarray, torch.Tensor]


def _numpy(x: ArrayLike) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _squeeze_2d(x: np.ndarray, what: str) -> np.ndarray:
    x = x.reshape(x.shape[-2:]) if x.ndim == 3 and x.shape[0] == 1 else x
    if x.ndim != 2:
        raise ValueError(f'{what} must be (H, W) or (1, H, W), got {x.shape}')
    return x


def image_components(scores: ArrayLike, labels: ArrayLike, *, threshold: float,
                     ignore_index: int = IGNORE_INDEX, min_pred_size: int = 500,
                     min_gt_size: int = 100) -> Dict[str, np.ndarray]:
    """sIoU of each GT component and PPV of each predicted component of one image.

    Args:
        scores: (H, W) or (1, H, W) anomaly scores, higher = more anomalous.
        labels: same shape, 0 inlier, 1 anomaly, ``ignore_index`` void.
        threshold: pixels with score >= threshold are predicted anomalous.
        ignore_index: void label.
        min_pred_size: predicted components with fewer pixels are removed.
        min_gt_size: GT components with fewer pixels are turned to void.

    Returns:
        dict with ``sIoU`` (G,) and ``PPV`` (J,) float64 arrays, ``gt_size`` (G,) and
        ``pred_size`` (J,) int64 ROI pixel counts.
    """
    scores = _squeeze_2d(_numpy(scores), 'scores')
    labels = _squeeze_2d(_numpy(labels), 'labels')
    if scores.shape != labels.shape:
        raise ValueError(f'scores {scores.shape} and labels {labels.shape} differ in shape')
    void = labels == ignore_index
    gt_comp, num_gt = ndimage.label(labels == 1, structure=EIGHT_CONNECTED)
    pred_comp, num_pred = ndimage.label((scores >= threshold) & ~void, structure=EIGHT_CONNECTED)

    # size filters are applied to whole components, before the ROI is shrunk (tool order)
    pred_sizes = np.bincount(pred_comp.ravel(), minlength=num_pred + 1)
    small_pred = pred_sizes < min_pred_size
    small_pred[0] = False
    pred_comp[small_pred[pred_comp]] = 0
    gt_sizes = np.bincount(gt_comp.ravel(), minlength=num_gt + 1)
    small_gt = gt_sizes < min_gt_size
    small_gt[0] = False
    roi = ~(void | small_gt[gt_comp])

    g = gt_comp[roi].astype(np.int64)  # (ROI,) GT component id, 0 = inlier
    p = pred_comp[roi].astype(np.int64)  # (ROI,) predicted component id, 0 = none
    gt_size = np.bincount(g, minlength=num_gt + 1)
    pred_size = np.bincount(p, minlength=num_pred + 1)
    pred_on_bg = np.bincount(p[g == 0], minlength=num_pred + 1)  # |j n bg|
    inter = np.bincount(g[p > 0], minlength=num_gt + 1)  # |k n K(k)|
    # distinct touching pairs (k, j), k > 0, j > 0: each j adds its background pixels to k's union
    touch = (g > 0) & (p > 0)
    pair = np.unique(g[touch] * (num_pred + 1) + p[touch])
    pair_k, pair_j = np.divmod(pair, num_pred + 1)
    bg_of_touching = np.bincount(pair_k, weights=pred_on_bg[pair_j], minlength=num_gt + 1)

    gt_ids = np.flatnonzero(gt_size[1:] > 0) + 1
    pred_ids = np.flatnonzero(pred_size[1:] > 0) + 1
    siou = inter[gt_ids] / (gt_size[gt_ids] + bg_of_touching[gt_ids])
    ppv = (pred_size[pred_ids] - pred_on_bg[pred_ids]) / pred_size[pred_ids]
    return dict(sIoU=siou.astype(np.float64), PPV=ppv.astype(np.float64),
                gt_size=gt_size[gt_ids], pred_size=pred_size[pred_ids])


def aggregate_components(images: Sequence[Dict[str, np.ndarray]], *,
                         taus: Sequence[float] = SIOU_TAUS) -> Dict[str, float]:
    """Dataset-level component metrics from per-image :func:`image_components` outputs.

    Returns:
        dict of floats in [0, 1]: ``sIoU`` and ``PPV`` (means over all components), ``mF1``
        (mean F1 over ``taus``), and ``F1_25``, ``F1_50``, ``F1_75`` when those taus are
        present. nan where there is nothing to average (no component / no GT and no prediction).
    """
    siou = np.concatenate([np.asarray(im['sIoU'], np.float64) for im in images] + [np.empty(0)])
    ppv = np.concatenate([np.asarray(im['PPV'], np.float64) for im in images] + [np.empty(0)])
    nan = float('nan')
    out = dict(sIoU=float(siou.mean()) if siou.size else nan,
               PPV=float(ppv.mean()) if ppv.size else nan)
    f1s = []
    for tau in taus:
        tp = int(np.count_nonzero(siou >= tau))
        fn = siou.size - tp
        fp = int(np.count_nonzero(ppv < tau))
        denom = 2 * tp + fn + fp
        f1s.append(2 * tp / denom if denom else nan)
        if round(tau * 100) in (25, 50, 75) and abs(tau * 100 - round(tau * 100)) < 1e-9:
            out[f'F1_{round(tau * 100)}'] = f1s[-1]
    out['mF1'] = float(np.mean(f1s)) if f1s else nan
    return out


def component_metrics(score_maps: Sequence[ArrayLike], label_maps: Sequence[ArrayLike], *,
                      threshold: float, ignore_index: int = IGNORE_INDEX, min_pred_size: int = 500,
                      min_gt_size: int = 100,
                      taus: Sequence[float] = SIOU_TAUS) -> Dict[str, float]:
    """sIoU, PPV and mean F1 of a dataset at a given pixel threshold.

    Args:
        score_maps: per image (H, W) scores.
        label_maps: per image (H, W) labels (0 / 1 / ``ignore_index``).
        threshold: t*, usually the F1-optimal pixel threshold of the same dataset.
        ignore_index: void label.
        min_pred_size: 500 (anomaly track) or 50 (obstacle track).
        min_gt_size: 100 (anomaly track) or 10 (obstacle track).
        taus: sIoU / PPV levels of the F1 counts.
    """
    per_image = [image_components(s, lab, threshold=threshold, ignore_index=ignore_index,
                                  min_pred_size=min_pred_size, min_gt_size=min_gt_size)
                 for s, lab in zip(score_maps, label_maps)]
    return aggregate_components(per_image, taus=taus)
