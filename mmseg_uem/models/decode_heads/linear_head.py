"""Discriminative ("D") inlier head: UEMPixelDecoder + per-pixel linear classifier.

Shape key: B batch, D ViT feature dim, K classes, E decoder channels, h x w patch grid.
"""
from typing import Sequence

from mmseg.registry import MODELS
from torch import Tensor

from ..utils.checks import check_train_labels
from .decoder_head import PixelDecoderHead


@MODELS.register_module()
class LinearDecoderHead(PixelDecoderHead):
    """UEMPixelDecoder followed by a 1x1 conv (``conv_seg``, a per-pixel Linear E -> K).

    ``forward`` returns logits F (B, K, 4h, 4w); ``loss`` is ``loss_by_feat`` of
    :class:`PixelDecoderHead` (CE over non-ignored pixels by default) with
    ``outlier_index`` mapped to ``ignore_index``.

    Args: see :class:`PixelDecoderHead`.
    """

    score_name = 'logits'

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> class logits F (B, K, 4h, 4w) ('none': (B, K, h_0, w_0))."""
        return self.cls_seg(self.decoder(self._transform_inputs(inputs)))

    def loss(self, inputs: Sequence[Tensor], batch_data_samples, train_cfg=None) -> dict:
        """CE (+ ``acc_seg``); a label map of the wrong size, channels or values is an error
        naming its file, non-finite logits stop training before the optimizer step."""
        check_train_labels(batch_data_samples, num_classes=self.num_classes,
                           ignore_index=self.ignore_index, outlier_index=self.outlier_index)
        return self.loss_by_feat(self.forward(inputs), batch_data_samples)
