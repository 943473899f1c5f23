"""Shared base of the inlier heads (G and D): the pixel decoder on the backbone maps.

Shape key: B batch, K classes, H x W label size.
"""
from typing import Optional, Sequence

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import Tensor

from .pixel_decoder import UEMPixelDecoder, decoder_in_channels


class PixelDecoderHead(BaseDecodeHead):
    """``UEMPixelDecoder`` + a classifier that subclasses add; pasted outliers ignored.

    Defaults follow the public code: GroupNorm (32 groups) in the decoder and a CE averaged
    over the non-ignored pixels (``avg_non_ignore=True``, as ``F.cross_entropy``).

    Args:
        in_channels: [D] * 4, the ViT maps (last = final normed tokens), or with
            ``pyramid='none'`` the channels of a hierarchical backbone's 4 maps.
        channels: decoder channels E (256).
        outlier_index: label id of pasted outliers, turned into ``ignore_index`` for every
            loss of the inlier head.
        pyramid, final_mlp_channels: see :class:`UEMPixelDecoder`.
        Remaining kwargs go to ``BaseDecodeHead``.
    """

    def __init__(self, in_channels: Sequence[int], channels: int = 256, *,
                 num_classes: int = 19, outlier_index: int = 254,
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
        self.decoder = UEMPixelDecoder(
            decoder_in_channels(self.in_channels, pyramid, owner=type(self).__name__),
            channels, pyramid=pyramid, final_mlp_channels=final_mlp_channels,
            norm_cfg=self.norm_cfg)

    def _stack_batch_gt(self, batch_data_samples) -> Tensor:
        """(B, 1, H, W) labels with pasted outliers turned into ``ignore_index``."""
        labels = super()._stack_batch_gt(batch_data_samples)
        return labels.masked_fill(labels == self.outlier_index, self.ignore_index)
