"""Discriminative ("D") inlier head: UEMPixelDecoder + per-pixel linear classifier.

Shape key: B batch, D ViT feature dim, K classes, E decoder channels, h x w patch grid.
"""
from typing import Sequence

from mmseg.registry import MODELS
from torch import Tensor

from .decoder_head import PixelDecoderHead


@MODELS.register_module()
class LinearDecoderHead(PixelDecoderHead):
    """UEMPixelDecoder followed by a 1x1 conv (``conv_seg``, a per-pixel Linear E -> K).

    ``forward`` returns logits F (B, K, 4h, 4w); ``loss`` is ``loss_by_feat`` of
    :class:`PixelDecoderHead` (label and NaN/inf checks, CE over non-ignored pixels by
    default) with ``outlier_index`` mapped to ``ignore_index``.

    Args: see :class:`PixelDecoderHead`.
    """

    score_name = 'logits'

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> class logits F (B, K, 4h, 4w) ('none': (B, K, h_0, w_0))."""
        return self.cls_seg(self.decoder(self._transform_inputs(inputs)))
