"""UEMTTAModel: flip test-time augmentation averages F and O, then forms the anomaly map."""
import copy
import math

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.testing.models import segmentor_cfg

torch.set_num_threads(2)
DIMS, CLASSES = 32, 3


def tiny_uem_model():
    torch.manual_seed(0)
    return MODELS.build(segmentor_cfg(
        'D-D', arch=dict(embed_dims=DIMS, num_layers=4, num_heads=2), out_indices=(0, 1, 2, 3),
        channels=16, num_classes=CLASSES, mlp_channels=(16, 8), final_mlp_channels=16,
        norm_cfg=dict(type='GN', num_groups=4), alpha=0.5, backbone=dict(img_size=56),
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[255.0] * 3,
                               size_divisor=14, pad_val=0, seg_pad_val=255),
        test_cfg=dict(mode='slide', crop_size=(28, 42), stride=(14, 28))))


def views(height=40, width=61):
    """The dataloader's output for one image under TestTimeAug: original + h-flip."""
    img = torch.randint(0, 256, (3, height, width),
                        generator=torch.Generator().manual_seed(1)).to(torch.uint8)
    base = dict(ori_shape=(height, width), img_shape=(height, width), img_path='a.png')
    gt = PixelData(data=torch.zeros(1, height, width, dtype=torch.long))
    plain = SegDataSample(metainfo=dict(base, flip=False), gt_sem_seg=gt)
    flipped = SegDataSample(metainfo=dict(base, flip=True, flip_direction='horizontal'),
                            gt_sem_seg=gt)
    return dict(inputs=[[img], [img.flip(-1)]], data_samples=[[plain], [flipped]])


def test_tta_averages_anomaly_score_and_probabilities():
    model = tiny_uem_model().eval()
    tta = MODELS.build(dict(type='UEMTTAModel', module=model))
    data = views()
    with torch.no_grad():
        merged = tta.test_step(copy.deepcopy(data))
        single = [model.test_step({k: v[i] for k, v in copy.deepcopy(data).items()})[0]
                  for i in range(2)]
    assert len(merged) == 1
    out = merged[0]
    # F and O averaged over the views first, then LLR = O1 - O0 - max_k F_k
    inlier = (single[0].seg_logits.data + single[1].seg_logits.data) / 2
    uem = (single[0].uem_logits.data + single[1].uem_logits.data) / 2
    score = (uem[1] - uem[0] - inlier.amax(0))[None]
    probs = (single[0].seg_logits.data.softmax(0) + single[1].seg_logits.data.softmax(0)) / 2
    assert out.pred_anomaly_score.data.shape == (1, 40, 61)
    assert torch.allclose(out.pred_anomaly_score.data, score, atol=1e-6)
    assert torch.allclose(out.seg_logits.data, probs, atol=1e-6)
    assert torch.equal(out.pred_sem_seg.data, probs.argmax(0, keepdim=True))
    # the flipped view was un-flipped before averaging: it is not a mirror of the plain one
    assert not torch.allclose(single[1].pred_anomaly_score.data,
                              single[0].pred_anomaly_score.data.flip(-1), atol=1e-3)
    assert out.img_path == 'a.png' and 'gt_sem_seg' in out


def _view(inlier, uem):
    sample = SegDataSample(metainfo=dict(ori_shape=(1, 1)))
    sample.seg_logits = PixelData(data=torch.tensor(inlier).reshape(-1, 1, 1))
    sample.uem_logits = PixelData(data=torch.tensor(uem).reshape(2, 1, 1))
    return sample


@pytest.mark.parametrize('mode, expected', [
    # mean F = (1, 1), mean O = (0, 2): LLR = 2 - 0 - 1 = 1 (the mean of the two views'
    # LLRs, (1 - 2 + 3 - 2) / 2 = 0, is what averaging finished scores would give)
    ('LLR', 1.0),
    ('ID', -1.0),  # -max mean F; the views' mean of -max F is -2
    ('OoD', 2.0),
    ('Energy', -(1.0 + math.log(2.0))),  # -logsumexp(1, 1)
])
def test_merge_forms_the_score_of_the_averaged_views_by_hand(mode, expected):
    model = tiny_uem_model().eval()
    model.test_cfg.score = mode
    tta = MODELS.build(dict(type='UEMTTAModel', module=model))
    views = [_view([2.0, 0.0], [0.0, 1.0]), _view([0.0, 2.0], [0.0, 3.0])]
    (out, ) = tta.merge_preds([views])
    assert out.pred_anomaly_score.data.shape == (1, 1, 1)
    assert out.pred_anomaly_score.data.item() == pytest.approx(expected, abs=1e-6)
    assert out.uem_logits.data.flatten().tolist() == [0.0, 2.0]
