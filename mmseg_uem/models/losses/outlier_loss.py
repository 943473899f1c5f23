"""Shared base of the outlier-supervised inlier-head losses (RbA, PEBAL; paper Table 4).

Shape key: B batch, C score channels (K inlier classes, + 1 abstention channel for PEBAL),
H x W label size.

These losses need to know which pixels are pasted outliers (AnomalyMix's ``outlier_index``),
so the inlier head hands them the labels with the outliers kept (every other loss of the head
sees them as ``ignore_index``): see ``PixelDecoderHead.loss_by_feat``.
"""
from typing import Optional

import torch
from torch import Tensor, nn

from ...utils.labels import IGNORE_INDEX, OUTLIER_INDEX
from ..utils.numerics import compute_dtype


class OutlierLoss(nn.Module):
    """mmseg loss interface (``forward(cls_score, label, weight=None, ignore_index=...)``,
    ``loss_name``) for losses that read the outlier label.

    Args:
        outlier_index: label of pasted outliers (AnomalyMix ``outlier_index``; 254).
        ignore_index: label of void pixels (255); the value the head passes at call time
            takes precedence, as for mmseg's ``CrossEntropyLoss``.
        loss_weight: factor of the loss.
        loss_name: key of the loss in the head's loss dict; starts with ``loss_``.
    """

    #: read by ``PixelDecoderHead``: give this loss the labels with outliers kept
    uses_outlier_label = True

    def __init__(self, *, outlier_index: int = OUTLIER_INDEX, ignore_index: int = IGNORE_INDEX,
                 loss_weight: float = 1.0, loss_name: str) -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f'loss_name must start with "loss_" (mmseg sums only those), got '
                             f'{loss_name!r}')
        if outlier_index == ignore_index:
            raise ValueError(f'outlier_index and ignore_index must differ, both are '
                             f'{outlier_index}')
        self.outlier_index = outlier_index
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    @property
    def loss_name(self) -> str:
        return self._loss_name

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                ignore_index: Optional[int] = None, **kwargs) -> Tensor:
        """``cls_score`` (B, C, H, W) scores at the label size, ``label`` (B, H, W) long
        labels with outliers kept -> scalar loss (times ``loss_weight``)."""
        if weight is not None:
            raise ValueError(f'{type(self).__name__} takes no pixel weights (a sampler): '
                             'set the decode head sampler=None')
        if cls_score.dim() != 4 or label.shape != (cls_score.shape[0], *cls_score.shape[2:]):
            raise ValueError(f'{type(self).__name__} needs scores (B, C, H, W) and labels '
                             f'(B, H, W) of one size, got {tuple(cls_score.shape)} and '
                             f'{tuple(label.shape)}')
        ignore = self.ignore_index if ignore_index is None else ignore_index
        outlier = label == self.outlier_index
        inlier = (label != ignore) & ~outlier
        with torch.autocast(cls_score.device.type, enabled=False):
            scores = cls_score.to(compute_dtype(cls_score))
            return self.loss_weight * self.outlier_loss(scores, label, inlier=inlier,
                                                        outlier=outlier)

    def outlier_loss(self, scores: Tensor, label: Tensor, *, inlier: Tensor,
                     outlier: Tensor) -> Tensor:
        """The loss itself: ``inlier`` / ``outlier`` are (B, H, W) bool masks."""
        raise NotImplementedError
