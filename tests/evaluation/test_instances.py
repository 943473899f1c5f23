"""Anomaly instances (connected components of the thresholded score) and the OoDIS files:
components on hand-drawn maps; the layout, mask values and scores read back."""
import json
import re

import numpy as np
import pytest

from mmseg_uem.evaluation.instances import (
    anomaly_instances,
    oodis_folder,
    read_oodis,
    write_oodis,
)


def _map():
    score = np.zeros((20, 30), np.float32)
    score[2:5, 3:6] = 0.9  # A: 3x3, one pixel 0.95
    score[2, 3] = 0.95
    score[10:12, 20:22] = 0.6  # B: 2x2
    score[12, 22] = 0.8  # diagonal neighbour of B: joins it (8-connected)
    score[17, 0] = 0.7  # C: 1 px, under min_size
    score[15:18, 25:28] = 1.0  # D: only in void
    label = np.zeros((20, 30), np.uint8)
    label[15:18, 25:28] = 255
    return score, label


def test_components_of_a_hand_drawn_map():
    score, label = _map()
    inst = anomaly_instances(score, threshold=0.5, min_size=2, void=label == 255)
    assert [i['area'] for i in inst] == [9, 5]
    assert inst[0]['box'] == [3, 2, 5, 4] and inst[1]['box'] == [20, 10, 22, 12]
    assert inst[0]['score'] == pytest.approx((8 * 0.9 + 0.95) / 9, rel=1e-6)
    assert inst[0]['score_max'] == pytest.approx(0.95)
    assert inst[1]['score'] == pytest.approx((4 * 0.6 + 0.8) / 5, rel=1e-6)
    assert inst[1]['mask'].sum() == 5 and inst[1]['mask'][12, 22]
    by_max = anomaly_instances(score, threshold=0.5, min_size=1, void=label == 255,
                               score_reduce='max')
    assert [i['score'] for i in by_max] == pytest.approx([0.95, 0.8, 0.7])
    # without the void mask D counts, and it scores highest
    assert anomaly_instances(score, threshold=0.5, min_size=2)[0]['area'] == 9 \
        and anomaly_instances(score, threshold=0.5, min_size=2)[0]['score'] == 1.0
    assert anomaly_instances(score, threshold=2.0) == []


def test_oodis_files_read_back(tmp_path):
    score, label = _map()
    maps = [dict(score=score, label=label, score_mode='LLR',
                 img_path='/d/leftImg8bit/test/04_Maurener_Weg_8/'
                          '04_Maurener_Weg_8_000000_000030_leftImg8bit.png'),
            dict(score=np.zeros((20, 30), np.float32), score_mode='LLR',
                 img_path='/d/leftImg8bit/test/04_Maurener_Weg_8/'
                          '04_Maurener_Weg_8_000000_000100_leftImg8bit.png')]
    result = write_oodis(maps, str(tmp_path), folder='fishyscapes', threshold=0.5, min_size=2)
    assert result['images'] == 2 and result['instances'] == 2 and result['empty'] == 1
    assert result['score'] == 'LLR'
    files = sorted(p.name for p in (tmp_path / 'fishyscapes').iterdir())
    # the names of the benchmark's expected file list and verify_submission's mask pattern
    assert '04_Maurener_Weg_8_000000_000030_gtCoarse_instanceIds_pred.txt' in files
    assert '04_Maurener_Weg_8_000000_000100_gtCoarse_instanceIds_pred.txt' in files
    pngs = [f for f in files if f.endswith('.png')]
    assert len(pngs) == 3 and all(re.match(r'.*_instanceIds_\d+_1.png$', f) for f in pngs)
    back = read_oodis(str(tmp_path / 'fishyscapes'))
    first = back['04_Maurener_Weg_8_000000_000030_gtCoarse_instanceIds_pred.txt']
    expected = anomaly_instances(score, threshold=0.5, min_size=2, void=label == 255)
    assert len(first) == 2
    for got, want in zip(first, expected):
        assert got['cls'] == 1 and got['values'] == {0, 255}
        assert np.array_equal(got['mask'], want['mask'])
        assert got['score'] == pytest.approx(want['score'], rel=1e-8)
    empty = back['04_Maurener_Weg_8_000000_000100_gtCoarse_instanceIds_pred.txt']
    assert len(empty) == 1 and empty[0]['score'] == 0 and empty[0]['values'] == {0}
    record = json.loads((tmp_path / 'fishyscapes' / 'instances.json').read_text())
    assert record['threshold'] == 0.5 and record['min_size'] == 2 and record['score'] == 'LLR'
    inst = record['images'][0]['instances']
    assert [i['area'] for i in inst] == [9, 5] and inst[0]['box'] == [3, 2, 5, 4]
    assert inst[0]['mask'] == '04_Maurener_Weg_8_000000_000030_gtCoarse_instanceIds_0_1.png'
    assert record['images'][1]['instances'][0]['empty'] is True


def test_folders_and_errors(tmp_path):
    assert oodis_folder(dict(type='SMIYCDataset', track='obstacle')) == 'roadobstacle'
    assert oodis_folder(dict(type='SMIYCDataset')) == 'roadanomaly'
    assert oodis_folder(dict(type='FishyscapesLaFDataset')) == 'fishyscapes'
    with pytest.raises(ValueError, match='--oodis-dataset'):
        oodis_folder(dict(type='RoadAnomalyDataset'))
    twice = [dict(score=np.zeros((2, 2)), img_path=f'/{d}/a.jpg') for d in 'xy']
    with pytest.raises(ValueError, match='one OoDIS name a'):
        write_oodis(twice, str(tmp_path), folder='roadanomaly', threshold=0.5)
    mixed = [dict(score=np.zeros((2, 2)), img_path=f'/x/{n}.jpg', score_mode=m)
             for n, m in (('a', 'LLR'), ('b', 'ID'))]
    with pytest.raises(ValueError, match=r'different scores: LLR \(/x/a.jpg\), ID \(/x/b.jpg\)'):
        write_oodis(mixed, str(tmp_path), folder='roadanomaly', threshold=0.5)
    with pytest.raises(ValueError, match='score_reduce'):
        anomaly_instances(np.zeros((2, 2)), threshold=0, score_reduce='median')
