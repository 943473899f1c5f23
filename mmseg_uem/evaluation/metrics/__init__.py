from .ood_metric import OoDMetric

__all__ = ['OoDMetric']
