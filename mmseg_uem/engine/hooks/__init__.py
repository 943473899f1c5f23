from .anomaly_visualization_hook import AnomalyVisualizationHook

__all__ = ['AnomalyVisualizationHook']
