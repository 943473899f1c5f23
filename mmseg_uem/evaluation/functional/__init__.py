"""Pure metric functions (torch / numpy in, floats out); no mmengine state."""
from .component_metrics import (
    COMPONENT_METRICS,
    SIOU_TAUS,
    aggregate_components,
    component_metrics,
    image_components,
)
from .histogram import ScoreHistogram, bin_lower_edge, histogram_metrics, score_bins
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

__all__ = [
    'COMPONENT_METRICS', 'PIXEL_METRICS', 'SIOU_TAUS', 'ScoreHistogram', 'UndefinedMetricWarning',
    'aggregate_components', 'auroc', 'average_precision', 'best_f1_threshold', 'bin_lower_edge',
    'binary_clf_curve', 'check_labels', 'check_scores', 'component_metrics', 'fpr_at_tpr',
    'histogram_metrics', 'image_components', 'metrics_from_sorted', 'operating_point_from_sorted',
    'pixel_metrics',
    'pr_roc_curves', 'score_bins', 'sort_scores', 'split_by_label'
]
