"""Image-wise, size-binned and false-alarm metrics: against sklearn per image and hand-worked
cases, as pure functions and through OoDMetric."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from sklearn_reference import sklearn_pixel_metrics

from mmseg_uem.evaluation.functional import (
    average_image_metrics,
    false_alarm_rate,
    frame_false_alarm,
    image_components,
    image_pixel_metrics,
    size_binned_recall,
)
from mmseg_uem.evaluation.metrics import OoDMetric
from mmseg_uem.testing.batches import anomaly_sample

VOID = 255
_ROOT = Path(__file__).resolve().parents[2]


def _evaluate(items, **metric_cfg):
    init_default_scope('mmseg')
    evaluator = Evaluator(dict(type='OoDMetric', **metric_cfg))
    samples = [anomaly_sample(s, y, f'img_{i:03d}') for i, (s, y) in enumerate(items)]
    for start in range(0, len(samples), 3):
        evaluator.process(data_samples=samples[start:start + 3])
    return evaluator.evaluate(len(samples))


def _images(seed=0, size=(20, 24)):
    """Quantised scores (ties) with void; image 0 all-inlier, image 1 all-anomaly, image 2
    all-void, the rest mixed."""
    gen = torch.Generator().manual_seed(seed)
    items = []
    for i in range(7):
        labels = (torch.rand(size, generator=gen) < 0.15).long()
        labels[torch.rand(size, generator=gen) < 0.1] = VOID
        if i == 0:
            labels[labels == 1] = 0
        if i == 1:
            labels[labels == 0] = 1
        if i == 2:
            labels[:] = VOID
        scores = torch.round((torch.randn(size, generator=gen) + 1.2 * (labels == 1)) * 3) / 3
        items.append((scores, labels))
    return items


def test_image_wise_equals_sklearn_per_image_averaged():
    items = _images()
    per_image = [image_pixel_metrics(s, y, ignore_index=VOID) for s, y in items]
    assert per_image[0] is None and per_image[1] is None and per_image[2] is None
    refs = [sklearn_pixel_metrics(s, y) for s, y in items[3:]]
    for ours, ref in zip(per_image[3:], refs):
        for key in ref:
            assert ours[key] == pytest.approx(ref[key], abs=1e-12)
    means, used = average_image_metrics(per_image)
    assert used == 4
    for key in ('AP', 'FPR95', 'AUROC'):
        assert means[f'{key}-img'] == pytest.approx(np.mean([r[key] for r in refs]), abs=1e-12)
    out = _evaluate(items, ood_metrics=['AP-img', 'FPR95-img', 'AUROC-img', 'AP'])
    for key in ('AP', 'FPR95', 'AUROC'):
        assert out[f'ood/{key}-img'] == pytest.approx(100 * means[f'{key}-img'], abs=1e-10)
    # pooled differs from image-wise on this set
    assert abs(out['ood/AP'] - out['ood/AP-img']) > 0.1


def test_image_wise_hand_worked_ties():
    # scores 2, 2 (anomaly, inlier tie), 1 (anomaly), 0 (inlier), void ignored
    scores = torch.tensor([[2., 2., 1., 0., 5.]])
    labels = torch.tensor([[1, 0, 1, 0, VOID]])
    m = image_pixel_metrics(scores, labels, ignore_index=VOID)
    # thresholds 2: TP 1 FP 1 (P 1/2); 1: TP 2 FP 1 (P 2/3) -> AP = 1/2 * 1/2 + 1/2 * 2/3
    assert m['AP'] == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)
    # pairs: (2 vs 2) tie 1/2, (2 vs 0) 1, (1 vs 2) 0, (1 vs 0) 1 -> 2.5 / 4
    assert m['AUROC'] == pytest.approx(2.5 / 4)
    assert m['FPR95'] == pytest.approx(0.5)  # TPR 1 first at threshold 1: FP 1 of 2
    means, used = average_image_metrics([m, None, dict(AP=0.0, FPR95=1.0, AUROC=0.5)])
    assert used == 2 and means['AP-img'] == pytest.approx((m['AP'] + 0) / 2)
    assert math.isnan(average_image_metrics([None])[0]['AP-img'])


def _hand_drawn():
    """64x64: four GT components with known sIoU at the prediction (score 1 = predicted).

    A 4x4 = 16 px, fully predicted            -> sIoU 1        (small, bins (20, 100))
    B 6x6 = 36 px, top half predicted (18 px) -> sIoU 18/36   (medium, found: >= 0.5)
    D 5x5 = 25 px, not predicted              -> sIoU 0        (medium)
    C 10x12 = 120 px, 10x5 inside + 10x1 outside predicted -> 50 / (120 + 10) (large)
    """
    labels = torch.zeros(64, 64, dtype=torch.long)
    scores = torch.zeros(64, 64)
    labels[2:6, 2:6] = 1
    scores[2:6, 2:6] = 1
    labels[10:16, 10:16] = 1
    scores[10:13, 10:16] = 1
    labels[30:35, 2:7] = 1
    labels[40:50, 30:42] = 1
    scores[40:50, 29:35] = 1  # column 29 outside C, columns 30..34 inside
    return scores, labels


def test_size_binned_recall_hand_drawn():
    scores, labels = _hand_drawn()
    comp = image_components(scores, labels, threshold=1.0, min_pred_size=1, min_gt_size=1)
    order = np.argsort(comp['gt_size'])
    assert comp['gt_size'][order].tolist() == [16, 25, 36, 120]
    assert comp['sIoU'][order].tolist() == pytest.approx([1.0, 0.0, 0.5, 50 / 130])
    recall = size_binned_recall([comp['gt_size']], [comp['sIoU']], bins=(20, 100))
    assert recall['recall-small'] == 1.0 and recall['count-small'] == 1
    assert recall['recall-medium'] == 0.5 and recall['count-medium'] == 2
    assert recall['recall-large'] == 0.0 and recall['count-large'] == 1
    # default COCO bins (1024, 9216): all four are small, 2 of 4 found
    default = size_binned_recall([comp['gt_size']], [comp['sIoU']])
    assert default['recall-small'] == 0.5 and math.isnan(default['recall-large'])
    out = _evaluate([(scores, labels)], ood_metrics=['recall-small', 'recall-medium',
                                                     'recall-large'],
                    size_bins=(20, 100), min_pred_size=1, min_gt_size=1)
    assert out == {'ood/recall-small': 100.0, 'ood/recall-medium': 50.0,
                   'ood/recall-large': 0.0}
    with pytest.raises(ValueError, match='size_bins'):
        OoDMetric('recall-small', size_bins=(100, 20))


def _fa_frames():
    """Three all-inlier frames, one anomaly frame (hand-made)."""
    frames = []
    s, y = torch.zeros(16, 16), torch.zeros(16, 16, dtype=torch.long)
    s[1:4, 1:4] = 1.0  # 9 px component
    s[10, 10] = 1.0  # 1 px
    s[12:14, 1:4] = 0.7  # 6 px, flagged at 0.5, not at 0.9
    frames.append((s, y))
    s, y = torch.zeros(16, 16), torch.zeros(16, 16, dtype=torch.long)
    s[5:7, 5:7] = 1.0  # 4 px: under min_pred_size 5
    frames.append((s, y))
    s, y = torch.zeros(16, 16), torch.zeros(16, 16, dtype=torch.long)
    s[0:4, 0:4] = 1.0
    y[0:4, 0:4] = VOID  # high scores only in void: not flagged
    frames.append((s, y))
    s, y = torch.zeros(16, 16), torch.zeros(16, 16, dtype=torch.long)
    y[8:12, 8:13] = 1  # 20 anomaly px: 19 at 0.9, one at 0.4 -> TPR-95 threshold 0.9
    s[8:12, 8:13] = 0.9
    s[8, 8] = 0.4
    frames.append((s, y))
    return frames


def test_false_alarms_hand_made():
    frames = _fa_frames()
    per = [frame_false_alarm(s, y, threshold=0.5, ignore_index=VOID, min_pred_size=5)
           for s, y in frames[:3]]
    assert [p['components'] for p in per] == [2, 0, 0]
    assert [p['flagged'] for p in per] == [16, 4, 0]
    assert [p['valid'] for p in per] == [256, 256, 240]
    rate = false_alarm_rate(per)
    assert rate['FA-img'] == pytest.approx(1 / 3)
    assert rate['FA-px'] == pytest.approx(20 / 752)
    assert math.isnan(false_alarm_rate([])['FA-img'])


def test_false_alarms_through_the_metric(tmp_path):
    frames = _fa_frames()
    out = _evaluate(frames, ood_metrics=['FA-img'], fa_threshold=0.5, min_pred_size=5)
    assert out['ood/FA-img'] == pytest.approx(100 / 3)
    assert out['ood/FA-px'] == pytest.approx(100 * 20 / 752)
    # the run's own TPR-95 threshold (0.9): frame 0 keeps its 9 px component only
    own = _evaluate(frames, ood_metrics=['FA-img', 'AP'], min_pred_size=5)
    assert own['ood/FA-img'] == pytest.approx(100 / 3)
    assert own['ood/FA-px'] == pytest.approx(100 * 14 / 752)
    # ... also when the maps are kept for component metrics
    comp = _evaluate(frames, ood_metrics=['FA-img', 'sIoU'], min_pred_size=5, min_gt_size=1)
    assert comp['ood/FA-img'] == own['ood/FA-img'] and comp['ood/FA-px'] == own['ood/FA-px']
    # an operating point file; a threshold above every score: no alarm
    point = tmp_path / 'operating_point.json'
    point.write_text(json.dumps(dict(threshold=1.5, tpr=0.95)))
    none = _evaluate(frames[:3], ood_metrics=['FA-img'], fa_threshold=str(point))
    assert none == {'ood/FA-img': 0.0, 'ood/FA-px': 0.0}
    # no anomalies and no threshold: nan, not 0
    nan = _evaluate(frames[:3], ood_metrics=['FA-img'])
    assert math.isnan(nan['ood/FA-img'])
    with pytest.raises(ValueError, match='fa_threshold'):
        OoDMetric('FA-img', mode='histogram')
    hist = _evaluate(frames, ood_metrics=['FA-img'], mode='histogram', fa_threshold=0.5,
                     min_pred_size=5)
    assert hist['ood/FA-img'] == out['ood/FA-img']


@pytest.mark.parametrize('variant', ['dinov2_gg', 'dinov3_vitb16_dd'])  # padded / native
def test_cityscapes_inlier_config_maps_train_ids_to_inlier_and_void(tmp_path, variant):
    """The FA-img config on Cityscapes val: trainIds 0-18 -> 0, 255 -> 255; a stray value
    (a labelIds file by mistake) is an error naming the file."""
    from mmcv.transforms import Compose
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from PIL import Image

    import mmseg_uem  # noqa: F401
    cfg = Config.fromfile(str(_ROOT / f'configs/uem/{variant}_test-cityscapes-inliers.py'))
    assert cfg.test_evaluator == dict(type='OoDMetric', ood_metrics=['FA-img'])
    init_default_scope('mmseg')
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline[:-1])
    raw = np.array([[0, 5, 18, 255], [13, 1, 255, 7]], np.uint8)
    Image.new('RGB', (4, 2)).save(tmp_path / 'a_leftImg8bit.png')
    Image.fromarray(raw).save(tmp_path / 'a_gtFine_labelTrainIds.png')
    out = pipeline(dict(img_path=str(tmp_path / 'a_leftImg8bit.png'),
                        seg_map_path=str(tmp_path / 'a_gtFine_labelTrainIds.png'),
                        seg_fields=[], reduce_zero_label=False))
    assert out['gt_seg_map'].tolist() == [[0, 0, 0, 255], [0, 0, 255, 0]]
    Image.fromarray(np.array([[0, 26]], np.uint8)).save(tmp_path / 'b.png')
    Image.new('RGB', (2, 1)).save(tmp_path / 'b_img.png')
    with pytest.raises(ValueError, match='b.png holds values \\[26\\]'):
        pipeline(dict(img_path=str(tmp_path / 'b_img.png'), seg_map_path=str(tmp_path / 'b.png'),
                      seg_fields=[], reduce_zero_label=False))
