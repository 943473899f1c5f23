from .anomaly_visualization_hook import AnomalyVisualizationHook
from .runtime_hook import RuntimeHook

__all__ = ['AnomalyVisualizationHook', 'RuntimeHook']
