"""The one owner of drawing anomaly predictions (hook, inferencer, tools, exported models)."""
from .panels import (
    GAP,
    colorize_labels,
    draw_anomaly_panels,
    flagged_overlay,
    heat_map,
    panel_titles,
    resolve_score_range,
    side_by_side,
    title_height,
)
from .samples import draw_data_sample, sample_arrays

__all__ = [
    'GAP', 'colorize_labels', 'draw_anomaly_panels', 'draw_data_sample', 'flagged_overlay',
    'heat_map', 'panel_titles', 'resolve_score_range', 'sample_arrays', 'side_by_side',
    'title_height'
]
