from .gmm import diagonal_gaussian_log_prob, em_update, ring_buffer_write, select_evenly_per_group
from .scores import SCORE_MODES, anomaly_score
from .sinkhorn import sinkhorn_knopp

__all__ = [
    'diagonal_gaussian_log_prob', 'em_update', 'ring_buffer_write', 'select_evenly_per_group',
    'SCORE_MODES', 'anomaly_score', 'sinkhorn_knopp'
]
