"""Test-time augmentation that also averages the anomaly map.

mmseg's ``SegTTAModel`` averages only the class probabilities and drops other
fields of the data samples.
"""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.utils import SampleList


@MODELS.register_module()
class UEMTTAModel(SegTTAModel):
    """Averages softmax(F) for ``pred_sem_seg`` and ``pred_anomaly_score`` over
    the augmented views (each already un-flipped and at the original image size by
    ``UEMEncoderDecoder.postprocess_result``). The merged ``seg_logits`` holds the
    averaged class probabilities."""

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        merged = []
        for views in data_samples_list:
            probs = torch.stack([v.seg_logits.data.softmax(dim=0) for v in views]).mean(0)
            score = torch.stack([v.pred_anomaly_score.data for v in views]).mean(0)
            out = views[0].new()
            out.set_data({
                'seg_logits': PixelData(data=probs),
                'pred_sem_seg': PixelData(data=probs.argmax(dim=0, keepdim=True)),
                'pred_anomaly_score': PixelData(data=score),
            })
            if 'gt_sem_seg' in views[0]:
                out.gt_sem_seg = views[0].gt_sem_seg
            merged.append(out)
        return merged
