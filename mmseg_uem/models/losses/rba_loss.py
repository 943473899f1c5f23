"""RbA's outlier loss: squared hinges on the RbA score of inlier and of pasted outlier pixels.

Shape key: B batch, K inlier classes, H x W label size.

RbA (NazirNayal8/RbA, ``mask2former/modeling/criterion.py: outlier_loss`` with
``OUTLIER_LOSS_TARGET: nls``, ``SCORE_NORM: tanh``, ``OUTLIER_LOSS_FUNC: squared_hinge`` in
its ``*_coco_mix_finetune.yaml`` configs; margins from ``mask2former/config.py``) scores a
pixel by s = -sum_k tanh(F_k) and fine-tunes with

    L = 0.5 * ( mean_inlier relu(s - m_in)^2 + mean_outlier relu(m_out - s)^2 )

(m_in = -1.0 below which inlier scores are pushed, m_out = -0.1 above which outlier scores
are pushed), or the inlier term alone when the batch holds no outlier pixel. Inlier pixels
are those neither void nor outlier. The score is the project's ``RbA`` mode.

Differences from the public code, both forced by the per-pixel head: F are the inlier head's
logits (not Mask2Former's mask-class products in [0, 1]), and the score is taken on F already
upsampled to the label size (RbA upsamples the score); a batch without inlier pixels gives 0
for that term (RbA: NaN).
"""
from mmseg.registry import MODELS
from torch import Tensor
from torch.nn import functional as F

from ...utils.labels import IGNORE_INDEX, OUTLIER_INDEX
from ..utils.numerics import masked_mean
from ..utils.scores import anomaly_score
from .outlier_loss import OutlierLoss


@MODELS.register_module()
class RbAOutlierLoss(OutlierLoss):
    """Squared-hinge outlier loss on the RbA score (RbA's fine-tuning objective).

    Args:
        inlier_margin: m_in, upper target of inlier scores (RbA ``INLIER_UPPER_THRESHOLD``,
            -1.0).
        outlier_margin: m_out, lower target of outlier scores (RbA
            ``OUTLIER_LOWER_THRESHOLD``, -0.1).
        outlier_index, ignore_index, loss_weight (RbA ``OUTLIER_WEIGHT``, 1.0), loss_name:
            see :class:`OutlierLoss`.
    """

    def __init__(self, *, inlier_margin: float = -1.0, outlier_margin: float = -0.1,
                 outlier_index: int = OUTLIER_INDEX, ignore_index: int = IGNORE_INDEX,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_rba') -> None:
        super().__init__(outlier_index=outlier_index, ignore_index=ignore_index,
                         loss_weight=loss_weight, loss_name=loss_name)
        self.inlier_margin = inlier_margin
        self.outlier_margin = outlier_margin

    def outlier_loss(self, scores: Tensor, label: Tensor, *, inlier: Tensor,
                     outlier: Tensor) -> Tensor:
        rba = anomaly_score(scores, mode='RbA')[:, 0]  # (B, H, W), higher = more anomalous
        loss_in = masked_mean(F.relu(rba - self.inlier_margin) ** 2, inlier)
        loss_out = masked_mean(F.relu(self.outlier_margin - rba) ** 2, outlier)
        # halved only when outliers are present, as RbA (a branch on the device: no sync)
        has_outliers = outlier.any()
        return (loss_in + loss_out) * (1 - 0.5 * has_outliers.to(loss_in.dtype))
