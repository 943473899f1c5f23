"""Discriminative inlier head with PEBAL's learnable abstention channel.

Shape key: B batch, K classes, E decoder channels, h x w patch grid.

PEBAL (tianyu0207/PEBAL, ``code/config/config.py``: ``num_classes = 19 + 1``) gives its
segmentation network one more output channel, the abstention ("reservation") class of its
gambler loss; the energy score at test time uses the K class channels only. Here the extra
channel is its own 1x1 conv next to ``conv_seg``: ``forward`` returns the K class logits, so
inference, the anomaly scores and mIoU see an ordinary K-class head, and only the training
loss gets the K + 1 channels.
"""
from typing import Sequence

import torch
from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, SampleList
from torch import Tensor, nn

from .linear_head import LinearDecoderHead


@MODELS.register_module()
class AbstentionLinearHead(LinearDecoderHead):
    """``LinearDecoderHead`` + ``conv_abstain`` (1x1 conv E -> 1), trained with PEBAL's loss.

    Fine-tuned from a stage-1 ``LinearDecoderHead`` checkpoint: every parameter but
    ``conv_abstain`` loads from it (PEBAL re-initialises its whole classifier with the extra
    channel; here the stage-1 classifier is kept and only the abstention channel is new).

    Args: see :class:`PixelDecoderHead`; ``loss_decode`` should be PEBAL's
    ``PEBALAbstentionLoss`` + ``PEBALEnergyLoss``.
    """

    #: parameters that a stage-1 checkpoint does not have (read by ``UEMEncoderDecoder``)
    stage1_missing_prefixes = ('conv_abstain.', )

    def __init__(self, in_channels: Sequence[int], channels: int = 256, **kwargs) -> None:
        super().__init__(in_channels, channels, **kwargs)
        self.conv_abstain = nn.Conv2d(self.channels, 1, kernel_size=1)
        # the init of mmseg's conv_seg (Normal, std 0.01, zero bias)
        nn.init.normal_(self.conv_abstain.weight, std=0.01)
        nn.init.zeros_(self.conv_abstain.bias)

    def forward_with_abstention(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> (B, K + 1, 4h, 4w): class logits F, then the abstention logit."""
        feats = self.decoder(self._transform_inputs(inputs))
        if self.dropout is not None:
            feats = self.dropout(feats)
        return torch.cat([self.conv_seg(feats), self.conv_abstain(feats)], dim=1)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> class logits F (B, K, 4h, 4w), the abstention channel left out."""
        return self.forward_with_abstention(inputs)[:, :self.num_classes]

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: SampleList,
             train_cfg: OptConfigType = None) -> dict:
        """Losses of ``loss_decode`` on the K + 1 channels."""
        return self.loss_by_feat(self.forward_with_abstention(inputs), batch_data_samples)
