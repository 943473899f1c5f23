from .gmm import diagonal_gaussian_log_prob, em_update, pick_evenly_per_group, ring_buffer_write
from .scores import SCORE_MODES, anomaly_score
from .sinkhorn import sinkhorn_knopp
from .sliding_window import slide_average, window_grid

__all__ = [
    'diagonal_gaussian_log_prob', 'em_update', 'pick_evenly_per_group', 'ring_buffer_write',
    'SCORE_MODES', 'anomaly_score', 'sinkhorn_knopp', 'slide_average', 'window_grid'
]
