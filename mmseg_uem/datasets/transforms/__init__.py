from .anomaly_mix import AnomalyMix

__all__ = ['AnomalyMix']
