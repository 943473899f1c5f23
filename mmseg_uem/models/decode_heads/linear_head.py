"""Discriminative ("D") inlier head: UEMPixelDecoder + per-pixel linear classifier.

Shape key: B batch, D ViT feature dim, K classes, E decoder channels, h x w patch grid.
"""
from typing import Optional, Sequence

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from ..utils.checks import check_finite, check_train_labels
from .pixel_decoder import UEMPixelDecoder, decoder_in_channels


@MODELS.register_module()
class LinearDecoderHead(BaseDecodeHead):
    """UEMPixelDecoder followed by a 1x1 conv (``conv_seg``, a per-pixel Linear E -> K).

    ``forward`` returns logits F (B, K, 4h, 4w); ``loss`` is mmseg's ``loss_by_feat`` (CE
    over non-ignored pixels by default) with ``outlier_index`` mapped to ``ignore_index``.

    Args:
        in_channels: [D] * 4, the ViT maps (last = final normed tokens), or with
            ``pyramid='none'`` the channels of a hierarchical backbone's 4 maps.
        channels: decoder channels E (256).
        outlier_index: label id of pasted outliers, ignored by the loss.
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
            decoder_in_channels(self.in_channels, pyramid, owner='LinearDecoderHead'), channels,
            pyramid=pyramid, final_mlp_channels=final_mlp_channels, norm_cfg=self.norm_cfg)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> class logits F (B, K, 4h, 4w) ('none': (B, K, h_0, w_0))."""
        return self.cls_seg(self.decoder(self._transform_inputs(inputs)))

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples) -> dict:
        """mmseg's CE; non-finite logits stop training before the optimizer step."""
        check_finite(seg_logits, what='LinearDecoderHead logits')
        return super().loss_by_feat(seg_logits, batch_data_samples)

    def _stack_batch_gt(self, batch_data_samples) -> Tensor:
        """(B, 1, H, W) labels with pasted outliers turned into ``ignore_index``; a label
        map of the wrong size, channels or values is an error naming its file."""
        check_train_labels(batch_data_samples, num_classes=self.num_classes,
                           ignore_index=self.ignore_index, outlier_index=self.outlier_index)
        labels = super()._stack_batch_gt(batch_data_samples)
        return labels.masked_fill(labels == self.outlier_index, self.ignore_index)
