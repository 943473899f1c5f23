from .outlier_loss import OutlierLoss
from .pebal_loss import PEBALAbstentionLoss, PEBALEnergyLoss
from .rba_loss import RbAOutlierLoss

__all__ = ['OutlierLoss', 'PEBALAbstentionLoss', 'PEBALEnergyLoss', 'RbAOutlierLoss']
