"""Pure metric functions (torch / numpy in, floats out); no mmengine state."""
from .component_metrics import (
    COMPONENT_METRICS,
    SIOU_TAUS,
    aggregate_components,
    component_metrics,
    image_components,
)
from .histogram import ScoreHistogram, bin_lower_edge, histogram_metrics, score_bins
from .image_metrics import (
    COCO_SIZE_BINS,
    FALSE_ALARM_METRICS,
    FOUND_SIOU,
    IMAGE_METRICS,
    SIZE_METRICS,
    average_image_metrics,
    check_size_bins,
    false_alarm_rate,
    frame_false_alarm,
    image_pixel_metrics,
    is_inlier_frame,
    size_binned_recall,
)
from .pixel_metrics import (
    PIXEL_METRICS,
    UndefinedMetricWarning,
    auroc,
    average_precision,
    best_f1_threshold,
    binary_clf_curve,
    check_labels,
    check_scores,
    fpr_at_tpr,
    metrics_from_sorted,
    operating_point_from_sorted,
    pixel_metrics,
    pr_roc_curves,
    sort_scores,
    split_by_label,
)

#: every name ``OoDMetric`` (and ``--eval``) accepts, in report order
OOD_METRICS = (PIXEL_METRICS + IMAGE_METRICS + COMPONENT_METRICS + SIZE_METRICS +
               FALSE_ALARM_METRICS)

__all__ = [
    'COCO_SIZE_BINS', 'FALSE_ALARM_METRICS', 'FOUND_SIOU', 'IMAGE_METRICS', 'OOD_METRICS',
    'SIZE_METRICS', 'average_image_metrics', 'check_size_bins', 'false_alarm_rate',
    'frame_false_alarm', 'image_pixel_metrics', 'is_inlier_frame', 'size_binned_recall',
    'COMPONENT_METRICS', 'PIXEL_METRICS', 'SIOU_TAUS', 'ScoreHistogram', 'UndefinedMetricWarning',
    'aggregate_components', 'auroc', 'average_precision', 'best_f1_threshold', 'bin_lower_edge',
    'binary_clf_curve', 'check_labels', 'check_scores', 'component_metrics', 'fpr_at_tpr',
    'histogram_metrics', 'image_components', 'metrics_from_sorted', 'operating_point_from_sorted',
    'pixel_metrics',
    'pr_roc_curves', 'score_bins', 'sort_scores', 'split_by_label'
]
