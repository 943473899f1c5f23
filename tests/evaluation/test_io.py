"""Saved anomaly maps: round trip, pooled re-scoring, guarded inputs, the re-scoring tool."""
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_uem.evaluation.functional import (
    metrics_from_sorted,
    pixel_metrics,
    pr_roc_curves,
    sort_scores,
)
from mmseg_uem.evaluation.io import (
    MANIFEST,
    OutputNames,
    anomaly_map_path,
    iter_anomaly_maps,
    load_anomaly_map,
    load_pooled_scores,
    output_name,
    save_anomaly_maps,
    write_manifest,
)


def _sample(i: int, with_label: bool = True) -> SegDataSample:
    gen = torch.Generator().manual_seed(i)
    sample = SegDataSample(metainfo=dict(img_path=f'/data/frames/img_{i}.jpg'))
    sample.pred_anomaly_score = PixelData(data=torch.randn(1, 6, 7, generator=gen))
    if with_label:
        label = (torch.rand(1, 6, 7, generator=gen) < 0.3).long()
        label[0, 0] = 255
        sample.gt_sem_seg = PixelData(data=label)
    return sample


def _save_run(out_dir, samples, num_images=None, img_root=None, score_mode=None):
    names = OutputNames(img_root)
    paths = save_anomaly_maps(str(out_dir), samples, names)
    write_manifest(str(out_dir), names.images,
                   num_images=len(samples) if num_images is None else num_images,
                   score_mode=score_mode)
    return paths


def test_round_trip_and_pooled_rescoring(tmp_path):
    samples = [_sample(i) for i in range(3)]
    names = OutputNames()
    paths = save_anomaly_maps(str(tmp_path), samples[:2], names)
    save_anomaly_maps(str(tmp_path), [samples[2].to_dict()], names)  # the metric's dict form
    write_manifest(str(tmp_path), names.images, num_images=3)
    assert paths[0] == anomaly_map_path(str(tmp_path), 'img_0') == str(tmp_path / 'img_0.npz')
    loaded = list(iter_anomaly_maps(str(tmp_path)))
    assert [item['img_path'] for item in loaded] == [s.img_path for s in samples]
    for item, sample in zip(loaded, samples):
        np.testing.assert_array_equal(item['score'], sample.pred_anomaly_score.data[0].numpy())
        np.testing.assert_array_equal(item['label'], sample.gt_sem_seg.data[0].numpy())
    pos, neg = load_pooled_scores(str(tmp_path))
    scores = torch.cat([s.pred_anomaly_score.data.reshape(-1) for s in samples])
    labels = torch.cat([s.gt_sem_seg.data.reshape(-1) for s in samples])
    assert pos.numel() == int((labels == 1).sum()) and neg.numel() == int((labels == 0).sum())
    assert metrics_from_sorted(sort_scores(pos), sort_scores(neg)) == pixel_metrics(scores, labels)


def test_output_names_keep_the_relative_path_and_refuse_collisions():
    assert output_name('/d/frames/seqA/frame0.jpg', '/d/frames') == 'seqA/frame0'
    assert output_name('/d/frames/frame0.jpg', '/d/frames/') == 'frame0'
    assert output_name('/d/frames/seqA/frame0.jpg', None) == 'frame0'
    assert output_name('/e/seqA/frame0.jpg', '/d/frames') == 'frame0'  # not below the root
    names = OutputNames('/d/frames')
    assert [names('/d/frames/seqA/frame0.jpg'), names('/d/frames/seqB/frame0.jpg'),
            names('/d/frames/seqA/frame0.jpg')] == ['seqA/frame0', 'seqB/frame0', 'seqA/frame0']
    flat = OutputNames()  # file stems: the second frame0 would overwrite the first
    flat('/d/frames/seqA/frame0.jpg')
    with pytest.raises(ValueError, match=r'seqA/frame0.jpg and /d/frames/seqB/frame0.jpg '
                                         r"would both be saved as 'frame0'"):
        flat('/d/frames/seqB/frame0.jpg')
    with pytest.raises(ValueError, match='both be saved'):
        names('/d/frames/seqA/frame0.png')  # another image with the same stem


def test_nested_names_round_trip(tmp_path):
    a, b = _sample(0), _sample(1)
    a.set_metainfo(dict(img_path='/d/frames/seqA/frame0.jpg'))
    b.set_metainfo(dict(img_path='/d/frames/seqB/frame0.jpg'))
    _save_run(tmp_path, [a, b], img_root='/d/frames')
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob('*.npz')) == [
        'seqA/frame0.npz', 'seqB/frame0.npz']
    assert [m['img_path'] for m in iter_anomaly_maps(str(tmp_path))] == [a.img_path, b.img_path]


def test_reading_checks_the_manifest(tmp_path):
    samples = [_sample(i) for i in range(3)]
    _save_run(tmp_path / 'short', samples[:2], num_images=3)  # one map was lost
    with pytest.raises(ValueError, match=r'wrote 2 maps for 3 images'):
        load_pooled_scores(str(tmp_path / 'short'))
    _save_run(tmp_path / 'stale', samples)
    save_anomaly_maps(str(tmp_path / 'stale' / 'old'), [samples[0]])  # another run's map
    with pytest.raises(ValueError, match=r"not listed \['old/img_0'\]"):
        load_pooled_scores(str(tmp_path / 'stale'))
    _save_run(tmp_path / 'gone', samples)
    (tmp_path / 'gone' / 'img_1.npz').unlink()
    with pytest.raises(ValueError, match=r"missing \['img_1'\]"):
        load_pooled_scores(str(tmp_path / 'gone'))
    (tmp_path / 'gone' / MANIFEST).unlink()
    with pytest.raises(FileNotFoundError, match='maps.json is missing'):
        load_pooled_scores(str(tmp_path / 'gone'))
    _save_run(tmp_path / 'cut', samples)
    (tmp_path / 'cut' / MANIFEST).write_text('{"num_images": 3, "ma')
    with pytest.raises(ValueError, match='cut/maps.json is not a valid'):
        load_pooled_scores(str(tmp_path / 'cut'))


def test_unlabelled_maps(tmp_path):
    _save_run(tmp_path, [_sample(0, with_label=False)])
    assert load_anomaly_map(str(tmp_path / 'img_0.npz'))['label'] is None
    with pytest.raises(ValueError, match='without labels'):
        load_pooled_scores(str(tmp_path))


def test_guards(tmp_path):
    bad = _sample(0)
    bad.gt_sem_seg = PixelData(data=torch.full((1, 6, 7), 300))
    with pytest.raises(ValueError, match='uint8'):
        save_anomaly_maps(str(tmp_path), [bad])
    with pytest.raises(KeyError):
        save_anomaly_maps(str(tmp_path), [SegDataSample(metainfo=dict(img_path='a.png'))])
    with pytest.raises(FileNotFoundError):
        list(iter_anomaly_maps(str(tmp_path)))  # nothing was written


def test_score_maps_tool(tmp_path, monkeypatch, capsys):
    samples = [_sample(i) for i in range(4)]
    _save_run(tmp_path / 'run_a', samples, score_mode='LLR')
    _save_run(tmp_path / 'run_b', samples[:2])
    tool = Path(__file__).parents[2] / 'tools' / 'analysis' / 'score_maps.py'
    monkeypatch.setattr(sys, 'argv', [str(tool), f'a={tmp_path / "run_a"}',
                                      str(tmp_path / 'run_b'), '--plot-dir',
                                      str(tmp_path / 'plots'), '--max-points', '10'])
    runpy.run_path(str(tool), run_name='__main__')
    printed = capsys.readouterr().out.splitlines()
    scores = torch.cat([s.pred_anomaly_score.data.reshape(-1) for s in samples])
    labels = torch.cat([s.gt_sem_seg.data.reshape(-1) for s in samples])
    ap = 100 * pixel_metrics(scores, labels)['AP']
    # the score each run's maps.json names ('?' for maps written before it named one)
    assert printed[0].split()[:3] == ['run', 'score', 'AP']
    assert printed[1].split()[:3] == ['a', 'LLR', f'{ap:.2f}']
    assert printed[2].split()[:2] == ['run_b', '?']
    for name in ('pr_curves.png', 'roc_curves.png'):
        assert (tmp_path / 'plots' / name).stat().st_size > 1000


def test_thinned_curves_keep_end_points():
    gen = torch.Generator().manual_seed(0)
    pos = sort_scores(torch.randn(3000, generator=gen, dtype=torch.float64) + 1)
    neg = sort_scores(torch.randn(5000, generator=gen, dtype=torch.float64))
    full = pr_roc_curves(pos, neg)
    thin = pr_roc_curves(pos, neg, max_points=50)
    assert full['recall'].numel() == 8001 and thin['recall'].numel() <= 52
    for key in full:
        assert thin[key][0] == full[key][0] and thin[key][-1] == full[key][-1]
    # every kept point is a point of the full curve
    pairs = set(zip(full['fpr'].tolist(), full['tpr'].tolist()))
    assert all(p in pairs for p in zip(thin['fpr'].tolist(), thin['tpr'].tolist()))


def test_array_level_writer(tmp_path):
    """save_anomaly_map: what callers without data samples (an exported model) write."""
    from mmseg_uem.evaluation.io import save_anomaly_map

    score = np.linspace(-1, 1, 12, dtype=np.float64).reshape(3, 4)
    label = np.array([[0, 1, 255, 0]] * 3)
    path = save_anomaly_map(str(tmp_path / 'sub' / 'frame'), score, label=label,
                            img_path='x/frame.png')
    assert path.endswith('frame.npz')
    loaded = load_anomaly_map(path)
    assert loaded['score'].dtype == np.float32
    np.testing.assert_array_equal(loaded['score'], score.astype(np.float32))
    np.testing.assert_array_equal(loaded['label'], label.astype(np.uint8))
    assert loaded['img_path'] == 'x/frame.png'
    with pytest.raises(ValueError, match='2-D float'):
        save_anomaly_map(str(tmp_path / 'b'), np.zeros((1, 3, 4)))
    with pytest.raises(ValueError, match='differ in size'):
        save_anomaly_map(str(tmp_path / 'b'), score, label=label[:2], img_path='y.png')
    with pytest.raises(ValueError, match='fit uint8'):
        save_anomaly_map(str(tmp_path / 'b'), score, label=label * 2, img_path='y.png')
