"""The network that is exported: one window of a ``UEMEncoderDecoder`` in eval mode.

Shape key: B batch, K inlier classes, h x w window (a multiple of the patch size).

Two kinds of output (``OUTPUTS``):

- 'maps': the inlier class scores F (B, K, h, w) and, with a UEM, its scores O (B, 2, h, w),
  exactly ``UEMEncoderDecoder.encode_decode`` of the window. Sliding-window use: the runner
  averages F and O over the windows and forms the score afterwards, as the segmentor does.
- 'scores': the finished anomaly map (B, 1, h, w) of
  :func:`~mmseg_uem.models.utils.scores.anomaly_score` (the segmentor's ``test_cfg.score``)
  and the class prediction argmax_k F (B, 1, h, w) int64. Whole-image use: the image is the
  window.

The GMM heads export their eval computation only: class scores from the Gaussians' means
and standard deviations. Their memories, pointers and step counters feed only the training
update and are not in the graph.
"""
from typing import Dict, Tuple

import torch
from torch import Tensor, nn

from ..models.segmentors.uem_encoder_decoder import UEMEncoderDecoder
from ..models.utils.postprocess import split_maps
from ..models.utils.scores import anomaly_score

OUTPUTS = ('maps', 'scores')
INPUT_NAME = 'image'


def output_names(outputs: str, *, with_uem: bool) -> Tuple[str, ...]:
    """Graph output names of an export kind: what the runner looks the tensors up by."""
    if outputs not in OUTPUTS:
        raise ValueError(f'outputs must be one of {OUTPUTS}, got {outputs!r}')
    if outputs == 'scores':
        return ('anomaly_score', 'pred_sem_seg')
    return ('inlier_scores', 'uem_scores') if with_uem else ('inlier_scores', )


class UEMExportWrapper(nn.Module):
    """(B, 3, h, w) preprocessed window -> the outputs of kind ``outputs``.

    Args:
        segmentor: a built ``UEMEncoderDecoder`` (it is put in eval mode).
        outputs: 'maps' (F [, O]) or 'scores' (anomaly map, class prediction).
    """

    def __init__(self, segmentor: UEMEncoderDecoder, *, outputs: str = 'maps') -> None:
        super().__init__()
        if not isinstance(segmentor, UEMEncoderDecoder):
            raise TypeError('ONNX export takes a UEMEncoderDecoder (model.type in the config), '
                            f'got {type(segmentor).__name__}')
        self.names = output_names(outputs, with_uem=segmentor.with_auxiliary_head)
        self.segmentor = segmentor.eval()
        self.outputs = outputs
        self.num_classes = segmentor.decode_head.out_channels
        self.score = segmentor.score  # validated against the heads here, before tracing

    def forward(self, image: Tensor) -> Tuple[Tensor, ...]:
        maps = self.segmentor.encode_decode(image, [])  # (B, K [+ 2], h, w) float32
        inlier, uem = split_maps(maps, self.num_classes)
        if self.outputs == 'maps':
            return (inlier, ) if uem is None else (inlier, uem)
        score = anomaly_score(inlier, uem, mode=self.score)
        return score, inlier.argmax(1, keepdim=True)

    def named_outputs(self, image: Tensor) -> Dict[str, Tensor]:
        """Eager outputs by graph name (the PyTorch side of a parity check)."""
        with torch.no_grad():
            return dict(zip(self.names, self(image)))
