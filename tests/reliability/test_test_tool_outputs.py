"""``tools/test.py --eval AP FPR95 --show-dir --out`` on a generated OoD set: exactly the
asked metrics are printed, one heat-map PNG and one re-scorable .npz per image, named by the
image's path below the image folder, so two frames with one file name in two sequences both
survive and ``tools/analysis/score_maps.py`` re-scores to the printed numbers."""
import json
import re
import shutil

import numpy as np
import pytest
import torch
from rel_utils import ROOT, make_data, make_stage1_checkpoint, read_metrics, run_tool, write_config

from mmseg_uem.evaluation.functional import pixel_metrics
from mmseg_uem.evaluation.io import load_pooled_scores
from mmseg_uem.models.utils.scores import SCORE_MODES


def _same_stem_in_two_sequences(root):
    """Move frames 0 and 1 of a generated RoadAnomaly set to seqA/frame0 and seqB/frame0."""
    frames = root / 'frames'
    names = json.loads((root / 'frame_list.json').read_text())
    for name, seq in zip(names[:2], ('seqA', 'seqB')):
        stem = name[:-len('.jpg')]
        (frames / seq).mkdir()
        shutil.move(frames / name, frames / seq / 'frame0.jpg')
        shutil.move(frames / f'{stem}.labels', frames / seq / 'frame0.labels')
    names[:2] = ['seqA/frame0.jpg', 'seqB/frame0.jpg']
    (root / 'frame_list.json').write_text(json.dumps(names))


@pytest.mark.slow
def test_eval_show_dir_and_out(tmp_path):
    data = make_data(tmp_path / 'data', road_anomaly=3)
    _same_stem_in_two_sequences(tmp_path / 'data' / 'RoadAnomaly_jpg')
    config = write_config(tmp_path / 'stage1.py', data)
    ckpt = make_stage1_checkpoint(config, tmp_path / 'stage1.pth')
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--eval', 'AP', 'FPR95',
                    '--show-dir', tmp_path / 'vis', '--out', tmp_path / 'maps',
                    '--work-dir', tmp_path / 'test', cwd=tmp_path.parent)
    log = proc.stdout + proc.stderr
    assert re.search(r'ood/AP: [\d.]+', log) and re.search(r'ood/FPR95: [\d.]+', log)
    assert 'ood/AUROC' not in log
    metrics = read_metrics(tmp_path / 'test')
    assert {k for k in metrics if k.startswith('ood/')} == {'ood/AP', 'ood/FPR95'}

    pngs = sorted(p.relative_to(tmp_path / 'vis') for p in (tmp_path / 'vis').rglob('*.png'))
    maps = sorted(p.relative_to(tmp_path / 'maps') for p in (tmp_path / 'maps').rglob('*.npz'))
    kept = ['anomaly02_street', 'seqA/frame0', 'seqB/frame0']
    assert [str(p.with_suffix('')) for p in pngs] == kept
    assert [str(p.with_suffix('')) for p in maps] == kept
    # the saved maps re-score to the printed numbers (percent)
    pos, neg = load_pooled_scores(str(tmp_path / 'maps'))
    scores = torch.cat([pos, neg])
    labels = torch.cat([torch.ones_like(pos), torch.zeros_like(neg)]).to(torch.uint8)
    again = pixel_metrics(scores, labels, metrics=('AP', 'FPR95'))
    np.testing.assert_allclose(100 * again['AP'], metrics['ood/AP'], rtol=1e-9)
    np.testing.assert_allclose(100 * again['FPR95'], metrics['ood/FPR95'], rtol=1e-9)

    proc = run_tool(ROOT / 'tools' / 'analysis' / 'score_maps.py', tmp_path / 'maps',
                    cwd=tmp_path)
    row = proc.stdout.splitlines()[1].split()
    # the score the maps hold (their maps.json), then the metrics
    assert row[:4] == ['maps', json.loads((tmp_path / 'maps' / 'maps.json').read_text())[
        'score'], f'{metrics["ood/AP"]:.2f}', f'{metrics["ood/FPR95"]:.2f}']
    assert row[1] in SCORE_MODES

@pytest.mark.slow
def test_tta_runs_on_an_ood_config(tmp_path):
    """--tta with the OoD configs' tta_pipeline (3 scales x 2 flips) through UEMTTAModel."""
    data = make_data(tmp_path / 'data', road_anomaly=2)
    config = write_config(tmp_path / 'stage1.py', data)
    ckpt = make_stage1_checkpoint(config, tmp_path / 'stage1.pth')
    tta = ROOT / 'configs' / '_base_' / 'datasets' / 'road_anomaly.py'
    text = tta.read_text()
    config.write_text(config.read_text() + "tta_model = dict(type='UEMTTAModel')\n" +
                      text[text.index('tta_pipeline = ['):text.index('val_dataloader')])
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--tta', '--eval', 'AP',
                    '--out', tmp_path / 'maps', '--work-dir', tmp_path / 'test',
                    cwd=tmp_path.parent)
    assert re.search(r'ood/AP: [\d.]+', proc.stdout + proc.stderr)
    assert len(list((tmp_path / 'maps').glob('*.npz'))) == 2


@pytest.mark.slow
def test_every_ood_metric_by_name_and_the_runtime_line(tmp_path):
    """--eval takes every OoDMetric name; --threshold feeds FA-img; the runtime is logged."""
    data = make_data(tmp_path / 'data', road_anomaly=3)
    config = write_config(tmp_path / 'stage1.py', data)
    ckpt = make_stage1_checkpoint(config, tmp_path / 'stage1.pth')
    names = ['AP', 'AP-img', 'FPR95-img', 'AUROC-img', 'recall-small', 'recall-medium',
             'recall-large', 'FA-img']
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--eval', *names,
                    '--threshold', '1e30', '--work-dir', tmp_path / 'test',
                    cwd=tmp_path.parent)
    log = proc.stdout + proc.stderr
    metrics = read_metrics(tmp_path / 'test')
    assert {k for k in metrics if k.startswith('ood/')} == {f'ood/{n}' for n in names} | {
        'ood/FA-px'}
    assert 'images_with_anomaly_and_inlier=' in log and 'fa_threshold=1e+30 (given)' in log
    assert re.search(r'runtime: [\d.]+ img/s, [\d.]+ ms/image \(model.test_step only, data '
                     r'loading excluded; \d+ images in \d+ batches after \d+ warm-up batches; '
                     r'device CPU .*; input \d+x\d+', log), log[-3000:]
    # --threshold without a use for it is refused, naming both uses
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--eval', 'AP', '--threshold',
                    '0.5', '--work-dir', tmp_path / 'test2', cwd=tmp_path.parent, check=False)
    assert proc.returncode != 0
    assert 'add --show-dir, --eval ... FA-img or --out-format oodis' in proc.stderr


@pytest.mark.slow
def test_out_format_oodis_writes_the_instances_of_the_saved_maps(tmp_path):
    """--out-format oodis at the run's own operating point: the files hold exactly the
    components of the saved maps; without labels or --threshold it is a clear error."""
    from mmseg_uem.evaluation.instances import anomaly_instances, read_oodis
    from mmseg_uem.evaluation.io import iter_anomaly_maps
    from mmseg_uem.evaluation.operating_point import load_operating_point

    data = make_data(tmp_path / 'data', road_anomaly=2)
    config = write_config(tmp_path / 'stage1.py', data)
    ckpt = make_stage1_checkpoint(config, tmp_path / 'stage1.pth')
    out = tmp_path / 'out'
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--eval', 'AP', 'FPR95',
                    '--out', out, '--out-format', 'oodis', '--oodis-dataset', 'roadanomaly',
                    '--instance-min-size', '4', '--work-dir', tmp_path / 'test',
                    cwd=tmp_path.parent)
    line = re.search(r'OoDIS: [1-9]\d* instances of 2 images in \S+ \((\w+) score >= ',
                     proc.stdout)
    assert line, proc.stdout
    assert 'zip for upload' in proc.stdout
    threshold = load_operating_point(str(out / 'operating_point.json'))['threshold']
    back = read_oodis(str(out / 'oodis' / 'roadanomaly'))
    maps = list(iter_anomaly_maps(str(out / 'maps' / 'roadanomaly')))
    assert len(back) == len(maps) == 2
    # the score the maps hold is named in the line and in instances.json
    record = json.loads((out / 'oodis' / 'roadanomaly' / 'instances.json').read_text())
    assert line.group(1) == record['score'] == maps[0]['score_mode'] is not None
    for item in maps:
        stem = str(item['img_path']).rsplit('/', 1)[-1].rsplit('.', 1)[0]
        got = back[f'{stem}_instanceIds_pred.txt']
        want = anomaly_instances(item['score'], threshold=threshold, min_size=4,
                                 void=item['label'] == 255)
        assert len(got) == max(len(want), 1)
        for g, w in zip(got, want):
            assert np.array_equal(g['mask'], w['mask'])
            assert g['score'] == pytest.approx(w['score'], rel=1e-8)
    proc = run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--eval', 'AP', '--out',
                    tmp_path / 'out2', '--out-format', 'oodis', '--oodis-dataset', 'x',
                    '--work-dir', tmp_path / 'test2', cwd=tmp_path.parent, check=False)
    assert proc.returncode != 0 and 'no threshold' in proc.stderr
