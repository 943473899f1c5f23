"""Synthetic training batches (images and ``SegDataSample`` labels) for tests and benchmarks.

Shape key: B batch, H x W image.
"""
from typing import List, Optional, Sequence

import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ..utils.labels import IGNORE_INDEX as VOID
from ..utils.labels import OUTLIER_INDEX as OUTLIER


def anomaly_sample(score: Tensor, label: Optional[Tensor] = None,
                   name: str = 'a') -> SegDataSample:
    """A predicted sample of image ``/data/<name>.png``: ``pred_anomaly_score`` from the
    (H, W) ``score`` (float32) and, if given, ``gt_sem_seg`` from the (H, W) ``label``."""
    sample = SegDataSample(metainfo=dict(img_path=f'/data/{name}.png'))
    sample.pred_anomaly_score = PixelData(data=score[None].float())
    if label is not None:
        sample.gt_sem_seg = PixelData(data=label[None].long())
    return sample


def synthetic_batch(batch: int, size: Sequence[int], *, num_classes: int,
                    device: torch.device, seed: int = 0):
    """Normalised images and labels: class blocks, a void band and a pasted outlier."""
    g = torch.Generator().manual_seed(seed)
    height, width = size
    imgs = torch.randn(batch, 3, height, width, generator=g)
    samples = []
    for _ in range(batch):
        blocks = torch.randint(0, num_classes, (1, 1, 4, 8), generator=g).float()
        label = nn.functional.interpolate(blocks, size=(height, width), mode='nearest')[0].long()
        label[:, :height // 16] = VOID
        top, left = height // 2, width // 3
        label[:, top:top + height // 8, left:left + width // 8] = OUTLIER
        meta = dict(img_shape=(height, width), ori_shape=(height, width),
                    pad_shape=(height, width), padding_size=[0, 0, 0, 0])
        samples.append(SegDataSample(metainfo=meta,
                                     gt_sem_seg=PixelData(data=label.to(device))))
    return imgs.to(device), samples


def label_samples(labels: torch.Tensor) -> List[SegDataSample]:
    """(B, H, W) label maps -> one data sample per map, carrying it as ``gt_sem_seg``
    (1, H, W) long: what a decode head's ``loss`` reads."""
    samples = []
    for label in labels:
        sample = SegDataSample()
        sample.gt_sem_seg = PixelData(data=label[None].long())
        samples.append(sample)
    return samples
