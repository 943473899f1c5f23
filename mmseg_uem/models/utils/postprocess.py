"""Post-processing of a segmentor's output maps, shared by ``UEMEncoderDecoder``, the ONNX
runner and the benchmarks: F and O split, the preprocessor's padding, flip and resize
undone, the prediction fields of a data sample.

Shape key: B batch, K inlier classes, C channels (K, or K + 2 with a UEM), H x W image.
"""
from typing import Optional, Tuple

import torch
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from torch import Tensor

from ...utils.samples import SCORE_MODE_KEY
from .scores import anomaly_score


def crop_padding(maps: Tensor, meta: dict) -> Tensor:
    """(B, C, H, W) -> (B, C, H - top - bottom, W - left - right): drop the preprocessor's
    padding (``img_padding_size`` or ``padding_size``: left, right, top, bottom)."""
    height, width = maps.shape[2:]
    left, right, top, bottom = meta.get('img_padding_size', meta.get('padding_size',
                                                                     None)) or [0] * 4
    return maps[:, :, top:height - bottom, left:width - right]


def restore_original_size(logits: Tensor, meta: dict, *, align_corners: bool,
                          num_classes: Optional[int] = None) -> Tensor:
    """(1, C, H, W) maps of a preprocessed image -> (1, C, H0, W0) at ``meta['ori_shape']``.

    Undoes, in this order, the padding (:func:`crop_padding`), a flip (``flip`` /
    ``flip_direction``) and the resize (bilinear): what mmseg's ``postprocess_result`` does.
    With ``num_classes``, F (the first K channels) and O are restored as tensors of their
    own, each in the memory format of ``logits``, and concatenated again: CPU bilinear
    kernels round by channel count and strides, so F goes through exactly the steps mmseg
    applies to a stock model's K-channel logits (bitwise the same).
    """
    if num_classes is not None and logits.shape[1] > num_classes:
        layout = (torch.channels_last if not logits.is_contiguous()
                  and logits.is_contiguous(memory_format=torch.channels_last)
                  else torch.contiguous_format)
        return torch.cat([
            restore_original_size(part.contiguous(memory_format=layout), meta,
                                  align_corners=align_corners)
            for part in split_maps(logits, num_classes)], dim=1)
    logits = crop_padding(logits, meta)
    if meta.get('flip', False):
        direction = meta.get('flip_direction', 'horizontal')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f'unknown flip_direction {direction!r}')
        logits = logits.flip(dims=(3, ) if direction == 'horizontal' else (2, ))
    return resize(logits, size=meta['ori_shape'], mode='bilinear',
                  align_corners=align_corners, warning=False)


def split_maps(logits: Tensor, num_classes: int) -> Tuple[Tensor, Optional[Tensor]]:
    """(B, K [+ 2], H, W) -> F (B, K, H, W) and O (B, 2, H, W), or None without a UEM."""
    if logits.shape[1] == num_classes:
        return logits, None
    if logits.shape[1] != num_classes + 2:
        raise ValueError(f'expected K = {num_classes} class maps [+ 2 UEM maps], got '
                         f'{logits.shape[1]} channels')
    return logits[:, :num_classes], logits[:, num_classes:]


def prediction_fields(logits: Tensor, *, num_classes: int, score: str) -> dict:
    """(1, K [+ 2], H, W) F and O -> the prediction fields of one data sample.

    ``seg_logits`` F (K, H, W), ``pred_sem_seg`` argmax (1, H, W),
    ``pred_anomaly_score`` (1, H, W) float32 by
    :func:`~mmseg_uem.models.utils.scores.anomaly_score` with mode ``score`` (named in its
    metainfo, ``SCORE_MODE_KEY``) and, with a
    UEM, ``uem_logits`` O (2, H, W), from which ``UEMTTAModel`` forms the score of averaged
    views; O is the channels after the first ``num_classes`` (none for a stage-1 model).
    """
    inlier, uem = split_maps(logits, num_classes)
    anomaly = anomaly_score(inlier, uem, mode=score)
    fields = {
        'seg_logits': PixelData(data=inlier[0]),
        'pred_sem_seg': PixelData(data=inlier[0].argmax(dim=0, keepdim=True)),
        'pred_anomaly_score': PixelData(data=anomaly[0].float(),
                                        metainfo={SCORE_MODE_KEY: score}),
    }
    if uem is not None:
        fields['uem_logits'] = PixelData(data=uem[0])
    return fields
