"""UEMTTAModel: flip test-time augmentation averages the anomaly map as well."""
import copy

import torch
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uem  # noqa: F401  (registers the modules)

torch.set_num_threads(2)
init_default_scope('mmseg')
DIMS, CLASSES = 32, 3


def tiny_uem_model():
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='UEMEncoderDecoder', stage=2,
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0.0] * 3, std=[255.0] * 3,
                               size_divisor=14, pad_val=0, seg_pad_val=255),
        backbone=dict(type='DINOv2', out_indices=(0, 1, 2, 3), img_size=56,
                      arch=dict(embed_dims=DIMS, num_layers=4, num_heads=2)),
        decode_head=dict(type='LinearDecoderHead', in_channels=[DIMS] * 4, channels=16,
                         num_classes=CLASSES, final_mlp_channels=16,
                         norm_cfg=dict(type='GN', num_groups=4)),
        auxiliary_head=dict(type='UEMHead', in_channels=DIMS, mlp_channels=(16, 8),
                            num_inlier_classes=CLASSES),
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
    score = (single[0].pred_anomaly_score.data + single[1].pred_anomaly_score.data) / 2
    probs = (single[0].seg_logits.data.softmax(0) + single[1].seg_logits.data.softmax(0)) / 2
    assert out.pred_anomaly_score.data.shape == (1, 40, 61)
    assert torch.allclose(out.pred_anomaly_score.data, score, atol=1e-6)
    assert torch.allclose(out.seg_logits.data, probs, atol=1e-6)
    assert torch.equal(out.pred_sem_seg.data, probs.argmax(0, keepdim=True))
    # the flipped view was un-flipped before averaging: it is not a mirror of the plain one
    assert not torch.allclose(single[1].pred_anomaly_score.data,
                              single[0].pred_anomaly_score.data.flip(-1), atol=1e-3)
    assert out.img_path == 'a.png' and 'gt_sem_seg' in out
