"""The generative ("G") inlier head: UEMPixelDecoder + :class:`GMMClassifier`.

Shape key: B batch, K classes, P = B*h*w pixels, h x w embedding grid.
"""
from typing import Optional, Sequence

from mmseg.registry import MODELS
from mmseg.utils import OptConfigType, SampleList
from torch import Tensor

from ...utils.labels import OUTLIER_INDEX
from .decoder_head import PixelDecoderHead
from .gmm_classifier import GMMOutput, build_gmm_classifier, grid_labels


@MODELS.register_module()
class GMMHead(PixelDecoderHead):
    """UEMPixelDecoder + GMM classifier: the generative ("G") inlier head.

    ``forward`` returns the class scores F (B, K, 4h, 4w); ``loss`` adds to mmseg's CE on F
    (upsampled to the labels; ``ignore_index`` and ``outlier_index`` ignored) the contrastive
    CE ``loss_contrast`` at the embedding grid and, in train mode only, updates the EM state.

    Args:
        in_channels: [D] * 4, the ViT maps (last = final normed tokens), or with
            ``pyramid='none'`` the channels of a hierarchical backbone's 4 maps.
        channels: embedding dim E (256).
        outlier_index: label id of pasted outliers, ignored by every loss term.
        pyramid, final_mlp_channels: see :class:`UEMPixelDecoder`.
        contrast_weight: weight of the contrastive CE (0.01).
        gmm_cfg: arguments of the :class:`GMMClassifier` (``num_components``,
            ``memory_size``, ``update_interval``, ...) over its own defaults. Remaining kwargs go to
        ``BaseDecodeHead`` (``num_classes``, ``ignore_index``, ``norm_cfg``, ``loss_decode``...).
    """

    def __init__(self, in_channels: Sequence[int], channels: int = 256, *,
                 num_classes: int = 19, outlier_index: int = OUTLIER_INDEX,
                 pyramid: str = 'simple', final_mlp_channels: Optional[int] = 512,
                 contrast_weight: float = 0.01, gmm_cfg: Optional[dict] = None,
                 in_index: Sequence[int] = (0, 1, 2, 3),
                 input_transform: str = 'multiple_select', dropout_ratio: float = 0.0,
                 norm_cfg: Optional[dict] = None, loss_decode: Optional[dict] = None,
                 init_cfg: Optional[dict] = None, **kwargs) -> None:
        super().__init__(
            in_channels, channels, num_classes=num_classes, outlier_index=outlier_index,
            pyramid=pyramid, final_mlp_channels=final_mlp_channels, in_index=in_index,
            input_transform=input_transform, dropout_ratio=dropout_ratio, norm_cfg=norm_cfg,
            loss_decode=loss_decode, init_cfg=init_cfg, **kwargs)
        del self.conv_seg  # classification is generative
        self.contrast_weight = contrast_weight
        self.classifier = build_gmm_classifier(channels, num_classes, gmm_cfg)

    def _decode(self, inputs: Sequence[Tensor]) -> GMMOutput:
        return self.classifier(self.decoder(self._transform_inputs(inputs)))

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone maps -> class scores F (B, K, 4h, 4w) ('none': (B, K, h_0, w_0)), float32."""
        return self._decode(inputs).scores

    def loss(self, inputs: Sequence[Tensor], batch_data_samples: SampleList,
             train_cfg: OptConfigType = None) -> dict:
        """CE + contrast losses; EM memory update when in train mode. A label map of the
        wrong size, channels or values is an error naming its file; non-finite class scores
        stop training (before the EM update and the optimizer step). Inside
        :func:`~mmseg_uem.models.utils.checks.deferred_checks` the value checks and the EM
        update wait for the end of the forward pass."""
        out = self._decode(inputs)
        losses = self.loss_by_feat(out.scores, batch_data_samples)  # checks labels and scores
        labels = grid_labels(self._stack_batch_gt(batch_data_samples), out.scores.shape[2:],
                             num_classes=self.num_classes,
                             ignore_labels=(self.ignore_index, self.outlier_index))
        losses['loss_contrast'] = self.contrast_weight * self.classifier.contrast_and_update(
            out, labels)
        return losses
