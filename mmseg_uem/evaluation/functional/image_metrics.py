"""Per-image, per-size and false-alarm anomaly metrics (beside the pooled pixel metrics).

Shape key: H, W image size, G ground-truth components.

- Image-wise AP / FPR95 / AUROC (``AP-img``, ``FPR95-img``, ``AUROC-img``): the exact pixel
  metric (:func:`.pixel_metrics.metrics_from_sorted`) of each image that has both anomaly and
  inlier pixels, averaged over those images (the "image-wise" aggregation of
  hendrycks/anomaly-seg#21 and RPL#5; pooled numbers weight large anomalies more). Images
  without anomaly pixels have no AP and are what ``FA-img`` measures; images without inlier
  pixels have no FPR. The number of images used is reported with the values.
- Recall by GT component size (``recall-small``, ``recall-medium``, ``recall-large``): the share
  of GT components of each size bin that are found, found meaning sIoU >= 0.5 at the dataset's
  F1-optimal threshold (the SMIYC component definition of a true positive at tau = 0.5,
  :mod:`.component_metrics`). Default bins: small < 32^2 = 1,024 px <= medium < 96^2 = 9,216
  px <= large, COCO's area ranges (``COCO_SIZE_BINS``), counted in label pixels. They are the
  convention detection papers and OoDIS (Cityscapes-style instance AP) readers know, and on
  2048x1024 road frames they separate the distant, few-hundred-pixel obstacles of LostAndFound
  from near ones.
- False alarms on normal frames (``FA-img``): on the frames without anomaly pixels (and with
  inlier pixels), the share of frames with at least one predicted component (score >= t,
  zeroed in void, 8-connected, at least ``min_pred_size`` px, as the component metrics) at a
  threshold t; ``FA-px`` is the share of those frames' valid pixels with score >= t.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor

from ...utils.labels import IGNORE_INDEX
from .component_metrics import EIGHT_CONNECTED
from .pixel_metrics import PIXEL_METRICS, metrics_from_sorted, sort_scores, split_by_label

#: image-wise names of the pixel metrics
IMAGE_METRICS = tuple(f'{m}-img' for m in PIXEL_METRICS)
#: recall of GT components by size bin
SIZE_METRICS = ('recall-small', 'recall-medium', 'recall-large')
#: false alarms on frames without anomalies (``FA-px`` is reported with it)
FALSE_ALARM_METRICS = ('FA-img', )
#: COCO's small / medium / large area limits (32^2, 96^2 pixels)
COCO_SIZE_BINS = (32 ** 2, 96 ** 2)
#: sIoU a GT component needs to count as found (SMIYC's TP at tau = 0.5)
FOUND_SIOU = 0.5


def image_pixel_metrics(scores: Tensor, labels: Tensor, *, tpr: float = 0.95,
                        ignore_index: int = IGNORE_INDEX,
                        name: Optional[str] = None) -> Optional[Dict[str, float]]:
    """AP, FPR at ``tpr`` and AUROC of one image (void dropped), or None if the image lacks
    anomaly or inlier pixels (the metrics are undefined there).

    Args:
        scores: (H, W) floating anomaly scores.
        labels: (H, W) 0 inlier, 1 anomaly, ``ignore_index`` void.
        tpr: recall level of the FPR metric.
        name: what to call the image in error messages.

    Returns:
        dict with keys ``PIXEL_METRICS``, floats in [0, 1]; or None.
    """
    pos, neg = split_by_label(scores, labels, ignore_index=ignore_index, name=name)
    if pos.numel() == 0 or neg.numel() == 0:
        return None
    return metrics_from_sorted(sort_scores(pos.float(), inplace=True),
                               sort_scores(neg.float(), inplace=True), tpr=tpr)


def average_image_metrics(per_image: Sequence[Optional[Dict[str, float]]]
                          ) -> Tuple[Dict[str, float], int]:
    """Mean of each pixel metric over the images where it is defined.

    Args:
        per_image: :func:`image_pixel_metrics` outputs (None = image not used).

    Returns:
        ({'AP-img', 'FPR95-img', 'AUROC-img'}: floats, nan when no image is usable), the
        number of images used. ``math.fsum`` makes the mean independent of the image order.
    """
    used = [m for m in per_image if m is not None]
    out = {f'{m}-img': (math.fsum(u[m] for u in used) / len(used) if used else float('nan'))
           for m in PIXEL_METRICS}
    return out, len(used)


def check_size_bins(bins: Sequence[int]) -> Tuple[int, int]:
    """Validate the (small/medium, medium/large) pixel limits; returns them as ints."""
    bins = tuple(bins)
    if len(bins) != 2 or not all(isinstance(b, (int, np.integer)) for b in bins) \
            or not 0 < bins[0] < bins[1]:
        raise ValueError(f'size_bins must be two increasing positive pixel counts (small < '
                         f'b0 <= medium < b1 <= large), got {bins}')
    return int(bins[0]), int(bins[1])


def size_binned_recall(gt_sizes: Sequence[np.ndarray], sious: Sequence[np.ndarray], *,
                       bins: Sequence[int] = COCO_SIZE_BINS,
                       found_siou: float = FOUND_SIOU) -> Dict[str, float]:
    """Recall of GT components per size bin.

    Args:
        gt_sizes: per image (G,) GT component sizes in pixels (``image_components``'
            ``gt_size``).
        sious: per image (G,) their sIoU at the dataset's threshold.
        bins: (b0, b1): small < b0 <= medium < b1 <= large.
        found_siou: a component with sIoU >= this is found.

    Returns:
        ``recall-small`` / ``-medium`` / ``-large`` in [0, 1] (nan for an empty bin) and
        ``count-small`` / ... the number of GT components of each bin.
    """
    b0, b1 = check_size_bins(bins)
    size = np.concatenate([np.asarray(s, np.int64).reshape(-1) for s in gt_sizes] +
                          [np.empty(0, np.int64)])
    siou = np.concatenate([np.asarray(s, np.float64).reshape(-1) for s in sious] +
                          [np.empty(0)])
    if size.shape != siou.shape:
        raise ValueError(f'{size.size} component sizes but {siou.size} sIoU values')
    found = siou >= found_siou
    out: Dict[str, float] = {}
    for key, in_bin in (('small', size < b0), ('medium', (size >= b0) & (size < b1)),
                        ('large', size >= b1)):
        n = int(in_bin.sum())
        out[f'recall-{key}'] = float(found[in_bin].sum()) / n if n else float('nan')
        out[f'count-{key}'] = n
    return out


def frame_false_alarm(scores: Tensor, labels: Tensor, *, threshold: float,
                      ignore_index: int = IGNORE_INDEX, min_pred_size: int = 500) -> Dict[str, int]:
    """Predicted components and flagged pixels of one frame at ``threshold``.

    Args:
        scores: (H, W) anomaly scores.
        labels: (H, W) labels; void pixels are never flagged.
        threshold: pixels with score >= threshold are flagged.
        min_pred_size: components smaller than this do not count (as the component metrics).

    Returns:
        dict of ints: ``components`` (at least ``min_pred_size`` px), ``flagged`` and
        ``valid`` pixel counts.
    """
    scores = torch.as_tensor(scores).reshape(torch.as_tensor(scores).shape[-2:])
    labels = torch.as_tensor(labels).reshape(scores.shape)
    valid = labels != ignore_index
    flagged = ((scores >= threshold) & valid).cpu().numpy()
    comp, num = ndimage.label(flagged, structure=EIGHT_CONNECTED)
    sizes = np.bincount(comp.ravel(), minlength=num + 1)[1:]
    return dict(components=int((sizes >= min_pred_size).sum()), flagged=int(flagged.sum()),
                valid=int(valid.sum()))


def false_alarm_rate(frames: Sequence[Dict[str, int]]) -> Dict[str, float]:
    """``FA-img`` (share of frames with a component) and ``FA-px`` (share of valid pixels
    flagged) over :func:`frame_false_alarm` outputs of all-inlier frames; nan without frames."""
    frames = list(frames)
    valid = sum(f['valid'] for f in frames)
    nan = float('nan')
    return {'FA-img': (sum(f['components'] > 0 for f in frames) / len(frames)
                       if frames else nan),
            'FA-px': sum(f['flagged'] for f in frames) / valid if valid else nan}


def is_inlier_frame(labels: Tensor, *, ignore_index: int = IGNORE_INDEX) -> bool:
    """True if a frame has inlier pixels and no anomaly pixel (a ``FA-img`` frame)."""
    return not bool((labels == 1).any()) and bool((labels == 0).any())


__all__: List[str] = [
    'COCO_SIZE_BINS', 'FALSE_ALARM_METRICS', 'FOUND_SIOU', 'IMAGE_METRICS', 'SIZE_METRICS',
    'average_image_metrics', 'check_size_bins', 'false_alarm_rate', 'frame_false_alarm',
    'image_pixel_metrics', 'is_inlier_frame', 'size_binned_recall'
]
