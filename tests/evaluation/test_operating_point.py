"""The operating point (score threshold at TPR 95%): its formula against sklearn's ROC curve,
OoDMetric writing it, reading it back, and OoDMetric naming the frames without labels."""
import json

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from sklearn.metrics import roc_curve

from mmseg_uem.evaluation.functional import (
    metrics_from_sorted,
    operating_point_from_sorted,
    sort_scores,
)
from mmseg_uem.evaluation.operating_point import (
    load_operating_point,
    resolve_threshold,
    save_operating_point,
)
from mmseg_uem.testing.batches import anomaly_sample


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('tpr', [0.95, 0.5, 1.0])
def test_threshold_against_sklearn_roc(seed, tpr):
    rng = np.random.default_rng(seed)
    pos = np.round(rng.normal(2.0, 1.0, 300) * 4) / 4  # ties on purpose
    neg = np.round(rng.normal(0.0, 1.0, 3000) * 4) / 4
    point = operating_point_from_sorted(sort_scores(torch.from_numpy(pos).float()),
                                        sort_scores(torch.from_numpy(neg).float()), tpr=tpr)
    scores = np.concatenate([pos, neg])
    labels = np.concatenate([np.ones_like(pos), np.zeros_like(neg)])
    fpr, tprs, thresholds = roc_curve(labels, scores, drop_intermediate=False)
    k = int(np.argmax(tprs >= tpr))  # the first (highest) threshold reaching the TPR
    assert point['threshold'] == pytest.approx(thresholds[k])
    assert point['tpr'] == pytest.approx(tprs[k]) and point['fpr'] == pytest.approx(fpr[k])
    # flagging score >= threshold reproduces the TPR and FPR by counting
    assert (pos >= point['threshold']).mean() == pytest.approx(point['tpr'])
    assert (neg >= point['threshold']).mean() == pytest.approx(point['fpr'])
    fpr95 = metrics_from_sorted(sort_scores(torch.from_numpy(pos).float()),
                                sort_scores(torch.from_numpy(neg).float()), tpr=tpr,
                                metrics=('FPR95', ))['FPR95']
    assert point['fpr'] == pytest.approx(fpr95)


def test_file_round_trip_and_errors(tmp_path):
    path = save_operating_point(str(tmp_path / 'run' / 'operating_point.json'), threshold=1.5,
                                tpr=0.95, tpr_reached=0.951, fpr=0.2, positives=3,
                                negatives=4, score='LLR')
    assert load_operating_point(str(tmp_path / 'run'))['threshold'] == 1.5  # the folder works
    assert resolve_threshold(path) == (1.5, 'LLR at TPR 95%')
    assert resolve_threshold('0.25') == (0.25, None) and resolve_threshold(None) == (None, None)
    (tmp_path / 'bad.json').write_text('{"threshold": ')
    with pytest.raises(ValueError, match='bad.json'):
        load_operating_point(str(tmp_path / 'bad.json'))
    (tmp_path / 'empty.json').write_text('{}')
    with pytest.raises(ValueError, match='empty.json.*threshold'):
        load_operating_point(str(tmp_path / 'empty.json'))
    with pytest.raises(FileNotFoundError, match='nowhere.json'):
        resolve_threshold(str(tmp_path / 'nowhere.json'))


def test_ood_metric_writes_the_operating_point(tmp_path):
    init_default_scope('mmseg')
    gen = torch.Generator().manual_seed(0)
    label = (torch.rand(20, 30, generator=gen) < 0.2).long()
    score = torch.randn(20, 30, generator=gen) + 2 * label
    path = tmp_path / 'operating_point.json'
    evaluator = Evaluator(dict(type='OoDMetric', operating_point_file=str(path)))
    evaluator.process(data_samples=[anomaly_sample(score, label)])
    evaluator.evaluate(1)
    record = json.loads(path.read_text())
    expected = operating_point_from_sorted(sort_scores(score[label == 1]),
                                           sort_scores(score[label == 0]))
    assert record['threshold'] == pytest.approx(expected['threshold'])
    assert record['tpr'] == 0.95 and record['positives'] == int(label.sum())


def test_ood_metric_names_the_frames_without_labels():
    init_default_scope('mmseg')
    evaluator = Evaluator(dict(type='OoDMetric'))
    score = torch.zeros(4, 4)
    evaluator.process(data_samples=[anomaly_sample(score, torch.zeros(4, 4), 'labelled'),
                                    anomaly_sample(score, None, 'hidden_1'),
                                    anomaly_sample(score, None, 'hidden_2')])
    with pytest.raises(ValueError, match=r'2 of 3 images have no labels.*hidden_1.png, '
                                         r'/data/hidden_2.png.*--out'):
        evaluator.evaluate(3)
