"""Unknown Estimation Module: a 2-class head on the frozen ViT's final tokens.

Shape key: B batch, D ViT feature dim, E projector output dim, K inlier classes,
h x w patch grid (stride 14), H x W label size.

O[:, 1] scores "outlier", O[:, 0] "generic inlier". Trained (stage 2) through the
likelihood ratio LLR = O1 - O0 - max_k F_k with the frozen inlier scores F, as a logit of
BCE against t (1 on pasted outliers, 0 on inlier pixels), plus alpha * CE(O, t) and, for
the GMM classifier, contrast_weight * the contrastive CE (official UEM code,
``modeling/ood_segmentation.py: likelihood_ratio_loss``).
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, SampleList
from torch import Tensor

from ...utils.labels import OUTLIER_INDEX
from ..utils.checks import check_finite
from ..utils.numerics import masked_mean
from ..utils.scores import likelihood_ratio
from .gmm_classifier import GMMOutput, build_gmm_classifier, grid_labels

CLASSIFIERS = ('linear', 'gmm')


@MODELS.register_module()
class UEMHead(BaseDecodeHead):
    """MLP projector D -> ... -> E (ReLU between) + 2-class linear or GMM classifier.

    For D = 768, ``mlp_channels=(512, 512, 256)`` and the linear classifier the head has
    788,226 parameters (the paper's "788K").

    Args:
        in_channels: ViT dim D of the selected map (``in_index=-1``: final normed tokens).
        mlp_channels: output widths of the projector's Linear layers; the last is E.
        classifier: 'linear' (1x1 conv E -> 2, ``conv_seg``) or 'gmm' (:class:`GMMClassifier`).
        num_inlier_classes: K; labels in [0, K) are inliers (t = 0).
        outlier_index: label of pasted outliers (t = 1). ``ignore_index`` pixels and any
            other label are ignored by every loss term.
        alpha: weight of CE(O, t) (0.5 for G-G, 0 for G-D / D-D in the official configs).
        contrast_weight: weight of the contrastive CE of the GMM classifier (not scaled by
            alpha, as coded publicly).
        gmm_cfg: arguments of the :class:`GMMClassifier` over its own defaults, as
            ``GMMHead``'s (the official G-G values are in ``configs/_base_/models/dinov2_gg.py``).
    """

    def __init__(self, in_channels: int = 768, *,
                 mlp_channels: Sequence[int] = (512, 512, 256), classifier: str = 'linear',
                 num_inlier_classes: int = 19, outlier_index: int = OUTLIER_INDEX,
                 alpha: float = 0.5,
                 contrast_weight: float = 0.01, gmm_cfg: Optional[dict] = None,
                 in_index: int = -1, dropout_ratio: float = 0.0,
                 init_cfg: Optional[dict] = None, **kwargs) -> None:
        if classifier not in CLASSIFIERS:
            raise ValueError(f'classifier must be one of {CLASSIFIERS}, got {classifier!r}')
        if 'channels' in kwargs and kwargs.pop('channels') != mlp_channels[-1]:
            raise ValueError('UEMHead channels are mlp_channels[-1]; do not set both')
        kwargs.pop('num_classes', None)
        kwargs.pop('out_channels', None)
        # loss_decode is unused (loss_by_uem computes its own terms); set to silence mmseg
        kwargs.setdefault('loss_decode', dict(type='CrossEntropyLoss', avg_non_ignore=True))
        super().__init__(in_channels, mlp_channels[-1], num_classes=2, out_channels=2,
                         in_index=in_index, dropout_ratio=dropout_ratio, init_cfg=init_cfg,
                         **kwargs)
        self.classifier_type = classifier
        self.num_inlier_classes = num_inlier_classes
        self.outlier_index = outlier_index
        self.alpha = alpha
        self.contrast_weight = contrast_weight
        layers, width = [], in_channels
        for i, out in enumerate(mlp_channels):
            layers.append(nn.Linear(width, out))
            if i < len(mlp_channels) - 1:
                layers.append(nn.ReLU(inplace=True))
            width = out
        self.projector = nn.Sequential(*layers)  # Linear indices 0, 2, 4 as the official MLP
        if classifier == 'gmm':
            del self.conv_seg  # classification is generative
            self.classifier = build_gmm_classifier(width, 2, gmm_cfg)
        elif gmm_cfg:
            raise ValueError("gmm_cfg is only used with classifier='gmm'")

    def _project(self, inputs: Sequence[Tensor]) -> Tensor:
        x = self._transform_inputs(inputs)  # (B, D, h, w)
        return self.projector(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # (B, E, h, w)

    def _classify(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, Optional[GMMOutput]]:
        """UEM scores O (B, 2, h, w) and, for the GMM classifier, its full output."""
        feats = self._project(inputs)
        if self.classifier_type == 'gmm':
            out = self.classifier(feats)
            return out.scores, out
        return self.cls_seg(feats), None

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> UEM scores O (B, 2, h, w); O[:, 1] outlier, O[:, 0] inlier."""
        return self._classify(inputs)[0]

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: SampleList,
             train_cfg: OptConfigType = None) -> dict:
        raise RuntimeError('UEMHead is trained through the likelihood ratio and needs the '
                           'frozen inlier scores: call loss_by_uem(inputs, inlier_scores, '
                           'batch_data_samples) (UEMEncoderDecoder does).')

    def uem_targets(self, labels: Tensor) -> Tensor:
        """(B, 1, H, W) dataset labels -> long t: 1 outlier, 0 inlier, ``ignore_index`` else."""
        inlier = (labels >= 0) & (labels < self.num_inlier_classes) & \
            (labels != self.ignore_index) & (labels != self.outlier_index)
        # torch.where, not boolean setitem: no host synchronisation
        t = torch.where(inlier, torch.zeros_like(labels),
                        torch.full_like(labels, self.ignore_index))
        return torch.where(labels == self.outlier_index, torch.ones_like(labels), t)

    def loss_by_uem(self, inputs: Sequence[Tensor], inlier_scores: Tensor,
                    batch_data_samples: SampleList, train_cfg: OptConfigType = None) -> dict:
        """Stage-2 losses.

        Args:
            inputs: backbone maps (the one at ``in_index`` is used).
            inlier_scores: (B, K, h', w') frozen inlier class scores F (detached here).
            batch_data_samples: samples with ``gt_sem_seg`` (B, 1, H, W) labels.

        Returns:
            ``loss_bce`` (BCE-with-logits of the LLR, mean over non-ignored pixels),
            ``loss_ce`` (alpha * CE(O, t); only if alpha > 0), ``loss_contrast`` (GMM only);
            O and F are bilinearly upsampled (align_corners=False) to H x W first.
        """
        uem_scores, gmm_out = self._classify(inputs)
        labels = self._stack_batch_gt(batch_data_samples)  # (B, 1, H, W)
        t = self.uem_targets(labels)
        size = labels.shape[2:]
        with torch.autocast(uem_scores.device.type, enabled=False):
            o_up = F.interpolate(uem_scores.float(), size=size, mode='bilinear',
                                 align_corners=self.align_corners)  # (B, 2, H, W)
            f_up = F.interpolate(inlier_scores.detach().float(), size=size, mode='bilinear',
                                 align_corners=self.align_corners)  # (B, K, H, W)
            llr = likelihood_ratio(f_up, o_up)[:, 0]  # (B, H, W)
            # NaN / inf in O or F: stop here, before any loss, EM update or optimizer step
            check_finite(llr, what='UEMHead LLR = O1 - O0 - max_k F_k')
            target = t[:, 0]
            valid = target != self.ignore_index
            losses = dict(loss_bce=_masked_bce(llr, target, valid))
            if self.alpha > 0:
                ce = F.cross_entropy(o_up, target, ignore_index=self.ignore_index,
                                     reduction='sum')
                losses['loss_ce'] = self.alpha * ce / valid.sum().clamp(min=1)
        if gmm_out is not None:
            classes = grid_labels(t, uem_scores.shape[2:], num_classes=2,
                                  ignore_labels=(self.ignore_index, ))
            losses['loss_contrast'] = self.contrast_weight * self.classifier.contrast_and_update(
                gmm_out, classes)
        return losses


def _masked_bce(logits: Tensor, target: Tensor, valid: Tensor) -> Tensor:
    """Mean BCE-with-logits over ``valid`` pixels; 0 (with a graph) when there are none
    (:func:`~mmseg_uem.models.utils.numerics.masked_mean`: no host synchronisation)."""
    return masked_mean(F.binary_cross_entropy_with_logits(
        logits, torch.where(valid, target.to(logits.dtype), 0.0), reduction='none'), valid)
