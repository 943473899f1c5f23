"""SegmentMeIfYouCan submission files: layout, dtype, shape and values read back with h5py;
the float16 rank transform keeps the ranking; tools/test.py --out-format smiyc on an
unlabelled (hidden test) split."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mmseg_uem.evaluation.functional import pixel_metrics
from mmseg_uem.evaluation.io import save_anomaly_map, write_manifest
from mmseg_uem.evaluation.smiyc_submission import (
    ONE_CODE,
    benchmark_dataset_name,
    fit_rank_knots,
    frame_id,
    read_frame,
    to_float16_ranks,
    write_submission,
)

h5py = pytest.importorskip('h5py', reason='h5py is installed by tools/setup_env.sh')


def _llr_like_maps(num=4, size=(60, 80), seed=0):
    """Scores like an LLR map: large offset, small differences (what plain float16 loses)."""
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(num):
        label = (rng.random(size) < 0.05).astype(np.uint8)
        label[rng.random(size) < 0.05] = 255
        score = 20.0 + rng.normal(0, 0.05, size) + 0.08 * (label == 1)
        maps.append((score.astype(np.float32), label))
    return maps


def test_rank_transform_is_monotone_and_in_unit_range():
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.normal(0, 1, 5000), rng.normal(30, 5, 100)]).astype(np.float32)
    knots = fit_rank_knots([scores])
    stored = to_float16_ranks(scores, knots)
    assert stored.dtype == np.float16 and stored.min() >= 0 and stored.max() == 1.0
    order = np.argsort(scores, kind='stable')
    assert (np.diff(stored[order].astype(np.float64)) >= 0).all()  # never reverses a pair
    # the extremes are exact knots: the lowest score -> 0, the highest -> 1
    assert stored[order[0]] == 0 and stored[order[-1]] == 1
    # float16 bit patterns 0..ONE_CODE are ordered: the codes used are spread over all levels
    codes = np.unique(stored.view(np.uint16))
    assert codes.max() == ONE_CODE and codes.size > 0.2 * scores.size


def test_float16_files_keep_ap_and_fpr95(tmp_path):
    maps = _llr_like_maps()
    for i, (score, label) in enumerate(maps):
        save_anomaly_map(str(tmp_path / 'maps' / f'frame{i}'), score, label=label,
                         img_path=f'/data/images/validation000{i}.jpg')
    write_manifest(str(tmp_path / 'maps'), {f'frame{i}': f'/data/images/validation000{i}.jpg'
                                            for i in range(len(maps))}, num_images=len(maps))
    result = write_submission(str(tmp_path / 'maps'), str(tmp_path / 'sub'), method='UEM',
                              dataset='AnomalyTrack-all')
    assert len(result['paths']) == len(maps)
    m32, m16 = result['metrics']['float32'], result['metrics']['float16']
    assert abs(m32['AP'] - m16['AP']) < 1e-3 and abs(m32['FPR95'] - m16['FPR95']) < 1e-3
    # plain float16 (what the benchmark's own save_output does) loses the ranking here
    score = torch.from_numpy(np.concatenate([s.reshape(-1) for s, _ in maps]))
    label = torch.from_numpy(np.concatenate([y.reshape(-1) for _, y in maps]))
    naive = pixel_metrics(score.half().float(), label, metrics=('AP', ))['AP']
    assert abs(naive - m32['AP']) > 10 * abs(m16['AP'] - m32['AP'])
    # the files: the benchmark's layout, dataset 'value', float16, gzip 9, full size
    for i, (score, _) in enumerate(maps):
        path = tmp_path / 'sub' / 'anomaly_p' / 'UEM' / 'AnomalyTrack-all' / \
            f'validation000{i}.hdf5'
        with h5py.File(path, 'r') as f:
            assert list(f.keys()) == ['value']
            value = f['value']
            assert value.dtype == np.float16 and value.shape == score.shape
            assert value.compression == 'gzip' and value.compression_opts == 9
            stored = value[:]
        np.testing.assert_array_equal(read_frame(str(path)), stored)
        knots = fit_rank_knots(s for s, _ in maps)
        np.testing.assert_array_equal(stored, to_float16_ranks(score, knots))


def test_names_and_collisions(tmp_path):
    assert benchmark_dataset_name(dict(type='SMIYCDataset', track='anomaly')) == \
        'AnomalyTrack-all'
    assert benchmark_dataset_name(dict(type='SMIYCDataset', track='obstacle')) == \
        'ObstacleTrack-all'
    assert benchmark_dataset_name(dict(type='FishyscapesLaFDataset')) == 'FishyLAFAnomaly-val'
    with pytest.raises(ValueError, match='RoadAnomalyDataset is not a SegmentMeIfYouCan'):
        benchmark_dataset_name(dict(type='RoadAnomalyDataset'))
    assert frame_id('x/04_Maurener_Weg_8_000000_000030_leftImg8bit.png') == \
        '04_Maurener_Weg_8_000000_000030'
    assert frame_id('images/validation_1.webp') == 'validation_1'
    score = np.zeros((4, 4), np.float32)
    save_anomaly_map(str(tmp_path / 'maps' / 'a'), score, img_path='seqA/frame0.jpg')
    save_anomaly_map(str(tmp_path / 'maps' / 'b'), score, img_path='seqB/frame0.jpg')
    write_manifest(str(tmp_path / 'maps'), dict(a='seqA/frame0.jpg', b='seqB/frame0.jpg'),
                   num_images=2)
    with pytest.raises(ValueError, match="same frame id 'frame0'"):
        write_submission(str(tmp_path / 'maps'), str(tmp_path / 'sub'), method='m',
                         dataset='AnomalyTrack-all')


@pytest.mark.slow
def test_test_py_writes_a_submission_for_a_hidden_split(tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'reliability'))
    from rel_utils import ROOT, make_data, make_stage1_checkpoint, run_tool, write_config

    from mmseg_uem.testing import make_smiyc_anomaly

    data = make_data(tmp_path / 'data')
    root = tmp_path / 'data' / 'dataset_AnomalyTrack'
    make_smiyc_anomaly(str(root), num_val=1, num_test=2, size=(48, 96), seed=0)
    config = write_config(tmp_path / 'stage1.py', data)
    ckpt = make_stage1_checkpoint(config, tmp_path / 'stage1.pth')
    split = ['--cfg-options', 'test_dataloader.dataset.type=SMIYCDataset',
             f'test_dataloader.dataset.data_root={root}', 'test_dataloader.dataset.split=test']
    # without outputs, the hidden labels are an error naming the frames
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, *split, '--work-dir',
                    tmp_path / 'w0', cwd=tmp_path, check=False)
    assert proc.returncode != 0 and '2 of 2 test images have no labels' in proc.stderr
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, *split, '--out', tmp_path / 'out',
                    '--out-format', 'smiyc', '--method-name', 'UEM', '--show-dir',
                    tmp_path / 'vis', '--work-dir', tmp_path / 'w1', cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert 'metrics skipped, writing predictions only' in log
    files = sorted((tmp_path / 'out' / 'anomaly_p' / 'UEM' / 'AnomalyTrack-all').iterdir())
    images = sorted(p for p in (root / 'images').iterdir() if not p.stem.startswith('valid'))
    assert [f.stem for f in files] == [p.stem for p in images]
    import mmcv
    for f, image in zip(files, images):
        value = read_frame(str(f))
        assert value.dtype == np.float16 and value.shape == mmcv.imread(str(image)).shape[:2]
    assert len(list((tmp_path / 'vis').glob('*.png'))) == 2
    assert 'zip -r UEM.zip anomaly_p' in proc.stdout


def test_submission_names_the_score(tmp_path):
    """The maps' score (``score_mode`` of each .npz) is returned, printed by tools/test.py
    and stored as the attribute ``score`` of each file's ``value`` (the benchmark reads
    only the data)."""
    maps = _llr_like_maps()[:2]
    for i, (score, label) in enumerate(maps):
        save_anomaly_map(str(tmp_path / 'maps' / f'frame{i}'), score, label=label,
                         img_path=f'/data/images/validation000{i}.jpg', score_mode='LLR')
    write_manifest(str(tmp_path / 'maps'), {f'frame{i}': f'/data/images/validation000{i}.jpg'
                                            for i in range(len(maps))}, num_images=len(maps),
                   score_mode='LLR')
    result = write_submission(str(tmp_path / 'maps'), str(tmp_path / 'sub'), method='UEM',
                              dataset='AnomalyTrack-all')
    assert result['score'] == 'LLR'
    with h5py.File(result['paths'][0], 'r') as f:
        assert f['value'].attrs['score'] == 'LLR' and list(f.keys()) == ['value']
