"""Shared base of the inlier heads (G and D): the pixel decoder on the backbone maps.

Shape key: B batch, K classes, H x W label size.
"""
from typing import Optional, Sequence

import torch
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.losses.cross_entropy_loss import cross_entropy
from mmseg.models.utils import resize
from mmseg.utils import SampleList
from torch import Tensor, nn

from ...utils.labels import OUTLIER_INDEX
from ..utils.checks import check_finite, check_train_labels
from .pixel_decoder import UEMPixelDecoder, decoder_in_channels


class PixelDecoderHead(BaseDecodeHead):
    """``UEMPixelDecoder`` + a classifier that subclasses add; pasted outliers ignored.

    Defaults: GroupNorm (32 groups) in the decoder (the public code and the configs use
    SyncBN; GroupNorm needs no conversion for a single-GPU or CPU run) and, as the public
    code, a CE averaged over the non-ignored pixels (``avg_non_ignore=True``, as
    ``F.cross_entropy``).
    ``loss_by_feat`` is mmseg's without its host synchronisations (the non-ignored count and
    the accuracy stay on the device).

    Args:
        in_channels: [D] * 4, the ViT maps (last = final normed tokens), or with
            ``pyramid='none'`` the channels of a hierarchical backbone's 4 maps.
        channels: decoder channels E (256).
        outlier_index: label id of pasted outliers, turned into ``ignore_index`` for every
            loss of the inlier head except the outlier-supervised ones
            (``uses_outlier_label``, :mod:`mmseg_uem.models.losses`: RbA, PEBAL), which get
            the labels with the outliers kept and must use the same ``outlier_index``.
        pyramid, final_mlp_channels: see :class:`UEMPixelDecoder`.
        Remaining kwargs go to ``BaseDecodeHead``.
    """

    def __init__(self, in_channels: Sequence[int], channels: int = 256, *,
                 num_classes: int = 19, outlier_index: int = OUTLIER_INDEX,
                 pyramid: str = 'simple', final_mlp_channels: Optional[int] = 512,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 input_transform: str = 'multiple_select', dropout_ratio: float = 0.0,
                 norm_cfg: Optional[dict] = None, loss_decode: Optional[dict] = None,
                 **kwargs) -> None:
        super().__init__(
            list(in_channels), channels, num_classes=num_classes, in_index=list(in_index),
            input_transform=input_transform, dropout_ratio=dropout_ratio,
            norm_cfg=norm_cfg or dict(type='GN', num_groups=32, requires_grad=True),
            loss_decode=loss_decode or dict(type='CrossEntropyLoss', loss_weight=1.0,
                                            avg_non_ignore=True),
            **kwargs)
        self.outlier_index = outlier_index
        for loss in self._decode_losses():
            if getattr(loss, 'uses_outlier_label', False) and \
                    loss.outlier_index != outlier_index:
                raise ValueError(f'{type(loss).__name__}.outlier_index={loss.outlier_index} '
                                 f'differs from the head outlier_index={outlier_index}')
        self.decoder = UEMPixelDecoder(
            decoder_in_channels(self.in_channels, pyramid, owner=type(self).__name__),
            channels, pyramid=pyramid, final_mlp_channels=final_mlp_channels,
            norm_cfg=self.norm_cfg)

    #: what :func:`check_finite` calls the head's output in its error
    score_name = 'class scores'

    def _decode_losses(self) -> list:
        return list(self.loss_decode) if isinstance(self.loss_decode, nn.ModuleList) \
            else [self.loss_decode]

    def _stack_batch_gt(self, batch_data_samples, *, keep_outliers: bool = False) -> Tensor:
        """(B, 1, H, W) labels with everything but the classes 0..K-1 (pasted outliers unless
        ``keep_outliers``, and values that :func:`check_train_labels` reports) turned into
        ``ignore_index``."""
        labels = super()._stack_batch_gt(batch_data_samples)
        keep = (labels >= 0) & (labels < self.num_classes)
        if keep_outliers:
            keep = keep | (labels == self.outlier_index)
        return torch.where(keep, labels, torch.full_like(labels, self.ignore_index))

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples: SampleList) -> dict:
        """mmseg's ``BaseDecodeHead.loss_by_feat`` (losses of ``loss_decode`` on the scores
        upsampled to the labels, plus ``acc_seg``) without host synchronisation. A label map
        of the wrong size, channels or values is an error naming its file; non-finite scores
        stop training before the optimizer step."""
        check_train_labels(batch_data_samples, num_classes=self.num_classes,
                           ignore_index=self.ignore_index, outlier_index=self.outlier_index)
        check_finite(seg_logits, what=f'{type(self).__name__} {self.score_name}')
        seg_label = self._stack_batch_gt(batch_data_samples)
        seg_logits = resize(seg_logits, size=seg_label.shape[2:], mode='bilinear',
                            align_corners=self.align_corners)
        seg_weight = None if self.sampler is None else self.sampler.sample(seg_logits,
                                                                           seg_label)
        seg_label = seg_label.squeeze(1)
        decode_losses = self._decode_losses()
        with_outliers = None
        if any(getattr(loss, 'uses_outlier_label', False) for loss in decode_losses):
            with_outliers = self._stack_batch_gt(batch_data_samples,
                                                 keep_outliers=True).squeeze(1)
        valid = seg_label != self.ignore_index
        num_valid = valid.sum()
        losses = {}
        for loss_decode in decode_losses:
            # mmseg reads the non-ignored count with .item() unless it is given
            extra = dict(avg_factor=num_valid) if _averages_over_valid(loss_decode) else {}
            labels = with_outliers if getattr(loss_decode, 'uses_outlier_label', False) \
                else seg_label
            value = loss_decode(seg_logits, labels, weight=seg_weight,
                                ignore_index=self.ignore_index, **extra)
            name = loss_decode.loss_name
            losses[name] = losses[name] + value if name in losses else value
        # over the K class channels (a head may add others, e.g. PEBAL's abstention)
        losses['acc_seg'] = pixel_accuracy(seg_logits[:, :self.num_classes], seg_label, valid)
        return losses


def _averages_over_valid(loss: nn.Module) -> bool:
    """True for mmseg's softmax ``CrossEntropyLoss(avg_non_ignore=True)``, whose mean over
    the non-ignored pixels ``avg_factor`` gives without a host read."""
    return (isinstance(loss, CrossEntropyLoss) and loss.avg_non_ignore
            and loss.cls_criterion is cross_entropy)


def pixel_accuracy(seg_logits: Tensor, seg_label: Tensor, valid: Tensor) -> Tensor:
    """(1,) top-1 accuracy in percent over the ``valid`` pixels, as mmseg's ``accuracy``
    (same eps) but with masked sums instead of boolean indexing."""
    eps = torch.finfo(torch.float32).eps
    correct = ((seg_logits.detach().argmax(1) == seg_label) & valid).sum().float() + eps
    return (correct * 100.0 / (valid.sum() + eps)).reshape(1)
