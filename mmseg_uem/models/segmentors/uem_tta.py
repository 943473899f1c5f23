"""Test-time augmentation that also averages the anomaly map, by the segmentor's rule.

mmseg's ``SegTTAModel`` averages only the class probabilities and drops other
fields of the data samples.
"""
from typing import List

import torch
from mmengine.structures import PixelData
from mmseg.models.segmentors import SegTTAModel
from mmseg.registry import MODELS
from mmseg.utils import SampleList

from ...utils.samples import SCORE_MODE_KEY
from ..utils.scores import anomaly_score


@MODELS.register_module()
class UEMTTAModel(SegTTAModel):
    """Averages the inlier scores F and the UEM scores O over the augmented views (each
    already un-flipped and at the original image size by
    ``UEMEncoderDecoder.postprocess_result``), then forms the anomaly score of
    ``module.score`` once from the averages, as the segmentor does over sliding windows
    (the scores are nonlinear: the mean of the views' scores would differ).

    ``pred_sem_seg`` is the argmax of the averaged softmax(F), as mmseg's ``SegTTAModel``;
    the merged ``seg_logits`` holds those averaged class probabilities.
    """

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        merged = []
        mode = self.module.score
        for views in data_samples_list:
            inlier = torch.stack([v.seg_logits.data for v in views]).mean(0)  # (K, H, W)
            probs = torch.stack([v.seg_logits.data.softmax(dim=0) for v in views]).mean(0)
            uem = None
            if 'uem_logits' in views[0]:
                uem = torch.stack([v.uem_logits.data for v in views]).mean(0)  # (2, H, W)
            score = anomaly_score(inlier[None], None if uem is None else uem[None], mode=mode)
            out = views[0].new()
            fields = {
                'seg_logits': PixelData(data=probs),
                'pred_sem_seg': PixelData(data=probs.argmax(dim=0, keepdim=True)),
                'pred_anomaly_score': PixelData(data=score[0], metainfo={SCORE_MODE_KEY: mode}),
            }
            if uem is not None:
                fields['uem_logits'] = PixelData(data=uem)
            out.set_data(fields)
            if 'gt_sem_seg' in views[0]:
                out.gt_sem_seg = views[0].gt_sem_seg
            merged.append(out)
        return merged
