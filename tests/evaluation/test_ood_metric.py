"""OoDMetric through mmengine's Evaluator: equals the functional metrics, 1 == 2 processes."""
import json
import math
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope

from mmseg_uem.evaluation.functional import (
    UndefinedMetricWarning,
    best_f1_threshold,
    component_metrics,
    histogram_metrics,
    pixel_metrics,
    sort_scores,
    split_by_label,
)
from mmseg_uem.evaluation.metrics import OoDMetric
from mmseg_uem.testing.batches import anomaly_sample

VOID = 255


def _dataset(num: int = 6, size=(24, 32), seed: int = 0):
    """Per image (scores, labels); image 0 is all-inlier, scores are quantised (ties)."""
    gen = torch.Generator().manual_seed(seed)
    items = []
    for i in range(num):
        labels = (torch.rand(size, generator=gen) < 0.08).long()
        if i == 0:
            labels.zero_()
        labels[torch.rand(size, generator=gen) < 0.1] = VOID
        scores = torch.round((torch.randn(size, generator=gen) + 1.5 * labels.clamp(max=1)) * 4) / 4
        items.append((scores, labels))
    return items


def _evaluate(items, **metric_cfg):
    init_default_scope('mmseg')
    evaluator = Evaluator(dict(type='OoDMetric', **metric_cfg))
    samples = [anomaly_sample(s, y, f'img_{i:03d}') for i, (s, y) in enumerate(items)]
    for start in range(0, len(samples), 4):  # batches of 4
        evaluator.process(data_samples=samples[start:start + 4])
    return evaluator.evaluate(len(samples))


def _pooled(items):
    return (torch.cat([s.reshape(-1) for s, _ in items]),
            torch.cat([y.reshape(-1) for _, y in items]))


def test_exact_equals_functional():
    items = _dataset()
    out = _evaluate(items)
    ref = pixel_metrics(*_pooled(items))
    assert list(out) == ['ood/AP', 'ood/FPR95', 'ood/AUROC']
    for key in ref:
        assert out[f'ood/{key}'] == 100.0 * ref[key]


def test_all_inlier_image_counts():
    items = _dataset()
    without = pixel_metrics(*_pooled(items[1:]))
    with_it = _evaluate(items)
    assert with_it['ood/FPR95'] != 100.0 * without['FPR95']


def test_histogram_mode_equals_functional_and_reports_bounds():
    items = _dataset()
    out = _evaluate(items, mode='histogram', bits=16, ood_metrics=['AP', 'AUROC'], prefix='hist')
    ref = histogram_metrics(*_pooled(items), bits=16, metrics=('AP', 'AUROC'))
    assert set(out) == {f'hist/{k}' for k in ref}
    for key in ref:
        assert out[f'hist/{key}'] == pytest.approx(100.0 * ref[key], abs=1e-12)
    exact = pixel_metrics(*_pooled(items))
    assert out['hist/AP_lo'] <= 100 * exact['AP'] <= out['hist/AP_hi']


def test_component_metrics_equal_functional():
    items = []
    for seed in range(3):
        rng = np.random.default_rng(seed)
        labels = np.zeros((40, 48), np.int64)
        labels[5 + seed:15, 8:20] = 1
        labels[25:30, 30 + seed:40] = 1
        labels[-2:] = VOID
        scores = torch.from_numpy(labels.clip(max=1) * 2.0 + rng.standard_normal((40, 48)))
        items.append((scores.float(), torch.from_numpy(labels)))
    out = _evaluate(items, ood_metrics=('AP', 'sIoU', 'PPV', 'mF1'), min_pred_size=5, min_gt_size=3)
    pos, neg = split_by_label(*_pooled(items))
    threshold, _ = best_f1_threshold(sort_scores(pos), sort_scores(neg))
    ref = component_metrics([s for s, _ in items], [y for _, y in items], threshold=threshold,
                            min_pred_size=5, min_gt_size=3)
    for key in ('sIoU', 'PPV', 'mF1'):
        assert out[f'ood/{key}'] == pytest.approx(100.0 * ref[key], abs=1e-12)
    assert out['ood/AP'] == 100.0 * pixel_metrics(*_pooled(items))['AP']


def test_resize_scores():
    scores, labels = _dataset(2)[1]  # image 0 has no anomaly
    small = scores[::2, ::2].contiguous()
    with pytest.raises(ValueError, match='img_000.*resize_scores'):
        _evaluate([(small, labels)])
    out = _evaluate([(small, labels)], resize_scores=True)
    resized = F.interpolate(small[None, None], size=labels.shape, mode='bilinear',
                            align_corners=False)[0, 0]
    assert out['ood/AP'] == 100.0 * pixel_metrics(resized, labels)['AP']


def test_bad_inputs_name_the_image():
    (scores, labels), = _dataset(1)
    bad = labels.clone()
    bad[0, 0] = 2
    with pytest.raises(ValueError, match=r'\[2\].*img_000'):
        _evaluate([(scores, bad)])
    nan = scores.clone()
    nan[3, 3] = math.nan
    with pytest.raises(ValueError, match='NaN.*img_000'):
        _evaluate([(nan, labels)])


def test_no_positives_is_nan():
    items = [(torch.rand(8, 8), torch.zeros(8, 8, dtype=torch.long))]
    with pytest.warns(UndefinedMetricWarning):
        out = _evaluate(items)
    assert all(math.isnan(v) for v in out.values())


def test_bad_config_raises():
    with pytest.raises(KeyError):
        OoDMetric(ood_metrics=['mIoU'])
    with pytest.raises(ValueError):
        OoDMetric(mode='binned')
    with pytest.raises(ValueError):
        OoDMetric(mode='histogram', bits=40)
    with pytest.raises(ValueError):
        OoDMetric(tpr=1.5)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


#: every OoDMetric name; image 0 of _dataset() is the all-inlier frame of FA-img
_EXACT_NAMES = ('AP', 'FPR95', 'AUROC', 'AP-img', 'FPR95-img', 'AUROC-img', 'sIoU', 'mF1',
                'recall-small', 'recall-medium', 'recall-large', 'FA-img')


def _rank_main(rank: int, world: int, port: int, out_dir: str) -> None:
    """One process: its half of the images, then the collective evaluate()."""
    import torch.distributed as dist
    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank,
                            world_size=world)
    try:
        items = _dataset()
        results = {}
        for mode in ('exact', 'histogram'):
            names = _EXACT_NAMES if mode == 'exact' else ('AP', 'FPR95', 'AUROC', 'AP-img')
            metric = OoDMetric(names, mode=mode, bits=16, min_pred_size=2, min_gt_size=2,
                               size_bins=(3, 6))
            samples = [anomaly_sample(s, y, f'img_{i:03d}') for i, (s, y) in enumerate(items)]
            # the DefaultSampler's split: rank r takes samples r, r + world, ...
            metric.process(None, [s.to_dict() for s in samples[rank::world]])
            results[mode] = metric.evaluate(len(samples))
        with open(f'{out_dir}/rank{rank}.json', 'w') as f:
            json.dump(results, f)
    finally:
        dist.destroy_process_group()


@pytest.mark.multiprocess
def test_two_processes_equal_one(tmp_path):
    torch.multiprocessing.spawn(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2)
    items = _dataset()
    one = {}
    for mode in ('exact', 'histogram'):
        names = _EXACT_NAMES if mode == 'exact' else ('AP', 'FPR95', 'AUROC', 'AP-img')
        metric = OoDMetric(names, mode=mode, bits=16, min_pred_size=2, min_gt_size=2,
                           size_bins=(3, 6))
        metric.process(None, [anomaly_sample(s, y, f'img_{i:03d}').to_dict()
                              for i, (s, y) in enumerate(items)])
        one[mode] = metric.evaluate(len(items))
    for rank in range(2):
        with open(tmp_path / f'rank{rank}.json') as f:
            two = json.load(f)
        assert two == json.loads(json.dumps(one))  # bit-identical floats on every rank


def test_table_and_operating_point_name_the_score(tmp_path, monkeypatch):
    """The score the predictions hold (``pred_anomaly_score``'s metainfo) titles the
    metric table and is recorded in the operating point file."""
    from mmseg_uem.evaluation.metrics import ood_metric

    logged = []
    monkeypatch.setattr(ood_metric, 'print_log', lambda msg, **kw: logged.append(msg))
    init_default_scope('mmseg')
    point = tmp_path / 'operating_point.json'
    evaluator = Evaluator(dict(type='OoDMetric', operating_point_file=str(point)))
    samples = [anomaly_sample(s, y, f'img_{i:03d}') for i, (s, y) in enumerate(_dataset(4)[1:])]
    for sample in samples:
        sample.pred_anomaly_score.set_metainfo(dict(score_mode='ID'))
    evaluator.process(data_samples=samples)
    evaluator.evaluate(len(samples))
    table = logged[-1].splitlines()
    assert table[0].startswith('OoD metrics of the ID score (exact, pooled; positives=')
    assert table[2].strip('| ') == 'score: ID'  # the table's own title row
    assert json.loads(point.read_text())['score'] == 'ID'
    # predictions that do not say: the table says so instead of guessing
    evaluator = Evaluator(dict(type='OoDMetric'))
    evaluator.process(data_samples=[anomaly_sample(s, y, 'x') for s, y in _dataset(2)[1:]])
    evaluator.evaluate(1)
    assert logged[-1].startswith('OoD metrics of the (unnamed) score')
    assert 'score: not named by the predictions' in logged[-1]
    # two scores in one pool cannot be one metric
    evaluator = Evaluator(dict(type='OoDMetric'))
    mixed = [anomaly_sample(s, y, f'm{i}') for i, (s, y) in enumerate(_dataset(3)[1:])]
    mixed[0].pred_anomaly_score.set_metainfo(dict(score_mode='ID'))
    mixed[1].pred_anomaly_score.set_metainfo(dict(score_mode='LLR'))
    evaluator.process(data_samples=mixed)
    with pytest.raises(ValueError, match=r"different scores \['ID', 'LLR'\]"):
        evaluator.evaluate(2)
