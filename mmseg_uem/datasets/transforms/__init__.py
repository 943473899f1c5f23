from .anomaly_mix import AnomalyMix
from .center_pad import CenterPad
from .color_jitter import ColorJitter

__all__ = ['AnomalyMix', 'CenterPad', 'ColorJitter']
