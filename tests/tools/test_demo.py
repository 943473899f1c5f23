"""The embedded demo (``tools/demo.py``, sections in ``tools/demo/``): its sections, and its
numbers pinned to the expected ones within their tolerance, both read from
``configs/uem/demo/expected_results.json`` (the file the docs quote).

``test_core_demo_reproduces_the_expected_numbers`` runs ``tools/demo.py --sections core
evaluation`` as a user runs it (a subprocess, one torch thread as every tool test here), in
``tmp_path``, and compares its tables with the expected numbers: a change of the demo's numbers
must come with a change of that file (and ``tests/test_docs.py`` then requires the docs to
quote the new ones).
"""
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from doc_pages import demo_expected
from sklearn_reference import sklearn_pixel_metrics

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tools'))  # the demo is an application: tools/demo/
from demo import context, sections  # noqa: E402

SCORES = ('ID', 'OoD', 'LLR')


def expected_demo_numbers() -> tuple:
    """({score: {AP, FPR95, AUROC}}, mIoU after stage 1, after stage 2, tolerance)."""
    core = demo_expected()['core']
    table = {s: {m: float(core['scores'][s][m]) for m in ('AP', 'FPR95', 'AUROC')}
             for s in SCORES}
    return (table, float(core['mIoU']['stage1']), float(core['mIoU']['stage2']),
            float(core['tolerance']))


def test_sections_select_what_they_require(monkeypatch):
    calls = []
    fake = [context.DemoSection('a', 'first', calls.append),
            context.DemoSection('b', 'second', calls.append, requires=('a', )),
            context.DemoSection('c', 'third', calls.append)]
    monkeypatch.setattr(sections, 'SECTIONS', fake)
    assert [s.name for s in sections.select_sections(['b'])] == ['a', 'b']
    assert [s.name for s in sections.select_sections(['c', 'a'])] == ['a', 'c']
    assert [s.name for s in sections.select_sections()] == ['a', 'b', 'c']
    with pytest.raises(ValueError, match=r"unknown demo section\(s\) \['x'\]; valid: "
                                         r"\['a', 'b', 'c'\]"):
        sections.select_sections(['x'])
    assert sections.SECTIONS[0].name == 'a'


def test_core_is_the_first_section():
    assert sections.SECTIONS[0].name == 'core' and sections.SECTIONS[0].requires == ()


@pytest.mark.slow
def test_core_demo_reproduces_the_expected_numbers(tmp_path):
    table, miou1, miou2, tol = expected_demo_numbers()
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    env.pop(context.DATA_ENV, None)
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'demo.py'), '--sections',
                           'core', 'evaluation', '--work-dir', str(tmp_path / 'demo')],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # progress while training, and where each log is
    assert re.search(r'stage 1 iter \d+/500  loss [\d.]+  eta ', out)
    assert re.search(r'stage 2 iter 300/300  loss [\d.]+', out)
    assert f'log: {tmp_path / "demo" / "stage1" / "train.log"}' in out
    everything = json.loads((tmp_path / 'demo' / 'demo_results.json').read_text())
    results = everything['core']
    got = {s: {m: results[s][f'ood/{m}'] for m in ('AP', 'FPR95', 'AUROC')} for s in SCORES}
    print('demo numbers (1 thread):', json.dumps(got), results['mIoU'])
    for score, metrics in table.items():
        for metric, value in metrics.items():
            assert abs(got[score][metric] - value) <= tol, (score, metric, got[score], value)
    assert abs(results['mIoU']['stage1'] - miou1) <= tol
    assert abs(results['mIoU']['stage2'] - miou2) <= tol
    # stage 2 leaves stage 1 bitwise unchanged, on every machine
    assert results['mIoU']['stage1'] == results['mIoU']['stage2']
    _check_evaluation_section(everything['evaluation'], results, tmp_path / 'demo', out)


def _sklearn_image_wise(run: Path) -> dict:
    """AP-img / FPR95-img / AUROC-img of a ``tools/test.py --out`` folder, in percent:
    sklearn's per-image values (:func:`sklearn_pixel_metrics`) of the images with anomaly and
    inlier pixels, averaged (the definitions of docs/en/advanced_guides/evaluation.md,
    computed independently of mmseg_uem's metric code)."""
    from mmseg_uem.evaluation.io import iter_anomaly_maps

    folders = [p.parent for p in run.rglob('maps.json')]
    assert len(folders) == 1, folders
    values = {'AP-img': [], 'FPR95-img': [], 'AUROC-img': []}
    for item in iter_anomaly_maps(str(folders[0])):
        label = item['label'][item['label'] != 255]
        if (label == 1).all() or not (label == 1).any():
            continue
        for metric, value in sklearn_pixel_metrics(item['score'], item['label']).items():
            values[f'{metric}-img'].append(value)
    return {k: 100 * float(np.mean(v)) for k, v in values.items()}


def _check_evaluation_section(evaluation: dict, core: dict, work_dir: Path, out: str) -> None:
    """The evaluation section: the core model's pooled numbers again (to every digit: same
    model, same frames), the image-wise ones as sklearn computes them from the saved maps,
    the size bins and false alarms consistent with their counts, the OoDIS files of every
    frame and the report page."""
    from mmseg_uem.evaluation.instances import read_oodis

    expected = demo_expected()['evaluation']
    for score in ('LLR', 'ID'):
        got = evaluation[score]
        for metric in ('AP', 'FPR95', 'AUROC'):
            assert got[metric] == core[score][f'ood/{metric}'], (score, metric)
        reference = _sklearn_image_wise(work_dir / f'eval_{score}')
        for metric, value in reference.items():
            assert got[metric] == pytest.approx(value, rel=1e-9, abs=1e-9), (score, metric)
        counts = got['counts']
        assert counts['images_with_anomaly_and_inlier'] == expected['frames']
        assert counts['inlier_frames'] == expected['inlier_frames']
        bins = dict(zip(('small', 'medium', 'large'),
                        map(int, counts['gt_small_medium_large'].split('/'))))
        assert bins == expected['gt_components_by_size']
        for size, count in bins.items():
            recall = got[f'recall-{size}']
            # a share of `count` components, nan when there are none
            assert (count == 0) == math.isnan(recall), (score, size)
            if count:
                assert recall * count / 100 == pytest.approx(round(recall * count / 100))
        frames = expected['inlier_frames']
        assert got['FA-img'] * frames / 100 == pytest.approx(round(got['FA-img'] * frames / 100))
        assert 0 <= got['FA-px'] <= 100 and (got['FA-px'] > 0) >= (got['FA-img'] > 0)
        assert got['runtime']['images_per_s'] > 0 and got['runtime']['images'] > 0
    # false alarms at a TPR-95% threshold: the LR score flags fewer normal frames than ID
    assert evaluation['LLR']['FA-px'] < evaluation['ID']['FA-px']
    oodis = read_oodis(evaluation['oodis'])
    assert len(oodis) == expected['frames']
    assert json.loads((Path(evaluation['oodis']) / 'instances.json').read_text())['score'] \
        == 'LLR'
    report = Path(evaluation['report']['path'])
    assert report == work_dir / 'report' / 'index.html' and report.stat().st_size > 100_000
    assert f'report: {report}' in out
    # the report's summary recomputes every number from the maps: the same as the tools'
    summary = _summary_cells(report.read_text())
    for score, name in (('LLR', 'LR'), ('ID', 'ID')):
        for metric in ('AP', 'AP-img', 'recall-small', 'FA-img', 'FA-px'):
            assert summary[name][metric] == f'{evaluation[score][metric]:.2f}', (name, metric)


def _summary_cells(page: str) -> dict:
    """The report's summary table: {run name: {column: shown text}}."""
    table = re.search(r'<table id=summary>(.*?)</table>', page, re.S).group(1)
    header = [re.sub(r'<[^>]+>', '', h) for h in re.findall(r'<th(?:\s[^>]*)?>(.*?)</th>', table)]
    rows = {}
    for row in re.findall(r'<tr>(.*?)</tr>', table.split('</thead>')[1], re.S):
        cells = [re.sub(r'<[^>]+>', '', c) for c in re.findall(r'<td[^>]*>(.*?)</td>', row, re.S)]
        rows[cells[0]] = dict(zip(header, cells))
    return rows


def test_stock_section_configs_and_its_checkpoints(tmp_path, monkeypatch):
    """The stock section's configs: a stock mmseg model and a UEM on it; every checkpoint
    the demo reads is the one its run saved last (mmengine's last_checkpoint), which is the
    trained model (the configs save at their last iteration)."""
    from demo import stock
    from mmengine.config import Config

    assert [s.name for s in sections.select_sections(['stock'])] == ['stock']
    for config in (stock.STOCK_CONFIG, stock.UEM_CONFIG):
        cfg = Config.fromfile(str(ROOT / config))
        assert cfg.default_hooks.checkpoint.interval == cfg.train_cfg.max_iters
    stock_model = Config.fromfile(str(ROOT / stock.STOCK_CONFIG)).model
    uem = Config.fromfile(str(ROOT / stock.UEM_CONFIG)).model
    assert stock_model.type == 'EncoderDecoder' and stock_model.auxiliary_head.type == 'FCNHead'
    assert uem.type == 'UEMEncoderDecoder' and uem.auxiliary_head.type == 'UEMHead'
    assert uem.backbone == stock_model.backbone and uem.decode_head == stock_model.decode_head

    # DemoContext.train returns what the run's last_checkpoint names, whatever its iteration
    ctx = context.DemoContext(str(tmp_path), str(tmp_path / 'data'))

    def fake_run(args, log_file, *, label=''):
        work_dir = Path(args[args.index('--work-dir') + 1])
        (work_dir / 'iter_7.pth').write_bytes(b'')
        (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_7.pth'))

    monkeypatch.setattr(ctx, 'run_tool', fake_run)
    assert ctx.train('x.py', ctx.folder('run')) == str(tmp_path / 'run' / 'iter_7.pth')
    with pytest.raises(FileNotFoundError, match=r'no checkpoint saved in .*empty'):
        context.last_checkpoint(ctx.folder('empty'))


def test_dinov3_section_is_the_core_run_with_a_dinov3_backbone():
    """The dinov3 section's configs differ from the core section's only in the backbone
    (type DINOv3, LayerScale starting at 1 as the core ViT's), the 176x336 padding of the
    168x336 crops to whole 16 px patches, and which stage-1 config stage 2 names."""
    from demo import core, dinov3
    from mmengine.config import Config

    assert [s.name for s in sections.select_sections(['dinov3'])] == ['dinov3']
    pairs = [(core.CORE.stage1_config, dinov3.DINOV3.stage1_config),
             (core.CORE.stage2_config, dinov3.DINOV3.stage2_config),
             (core.CORE.miou_config, dinov3.DINOV3.miou_config)]
    for core_config, dinov3_config in pairs:
        a = Config.fromfile(str(ROOT / core_config)).to_dict()
        b = Config.fromfile(str(ROOT / dinov3_config)).to_dict()
        for cfg in (a, b):
            cfg.pop('stage1_config', None)
        b.pop('demo_dinov3')  # the override variable of _base_/models/demo_tiny_dinov3.py
        backbone_a, backbone_b = a['model'].pop('backbone'), b['model'].pop('backbone')
        assert backbone_a['type'] == 'DINOv2' and backbone_b['type'] == 'DINOv3'
        assert backbone_b['arch'] == dict(backbone_a['arch'], layer_scale_init=1.0)
        assert {k: v for k, v in backbone_a.items() if k not in ('type', 'arch')} == \
            {k: v for k, v in backbone_b.items() if k not in ('type', 'arch')}
        assert a['model'].pop('data_preprocessor')['size'] == (168, 336)
        assert b['model'].pop('data_preprocessor')['size'] == (176, 336)
        assert a == b, dinov3_config
    assert Config.fromfile(str(ROOT / dinov3.DINOV3.stage2_config)).stage1_config == \
        dinov3.DINOV3.stage1_config


def test_dinov3_section_table_stands_beside_the_core_one(tmp_path, monkeypatch, capsys):
    """run_dinov3 with the tools stubbed: its folders, and the side-by-side table when the
    core section ran first."""
    from demo import dinov3

    ctx = context.DemoContext(str(tmp_path), str(tmp_path / 'data'))
    trained, tested, starts = [], [], []

    def fake_train(config, work_dir, extra=None, *, stage1=None, label=''):
        trained.append((config, osp.relpath(work_dir, tmp_path), label))
        starts.append(stage1 and osp.relpath(stage1, tmp_path))
        return osp.join(work_dir, 'iter_1.pth')

    def fake_test(config, ckpt, work_dir, metrics, extra=None):
        tested.append(osp.relpath(work_dir, tmp_path))
        value = 10.0 + len(tested)
        return {f'ood/{m}': value for m in metrics} if metrics != ['mIoU'] else {'mIoU': value}

    monkeypatch.setattr(ctx, 'train', fake_train)
    monkeypatch.setattr(ctx, 'test', fake_test)
    ctx.results['core'] = {s: {f'ood/{m}': 1.0 for m in ('AP', 'FPR95', 'AUROC')}
                           for s in SCORES} | {'mIoU': {'stage1': 2.0, 'stage2': 2.0}}
    results = dinov3.run_dinov3(ctx)
    assert [t[1:] for t in trained] == [('dinov3_stage1', 'DINOv3 stage 1 '),
                                        ('dinov3_stage2', 'DINOv3 stage 2 ')]
    assert starts == [None, osp.join('dinov3_stage1', 'iter_1.pth')]  # stage 2 on stage 1
    assert tested == ['dinov3_test_ID', 'dinov3_test_OoD', 'dinov3_test_LLR',
                      'dinov3_miou_stage1', 'dinov3_miou_stage2']
    assert results['LLR']['ood/AP'] == 13.0 and results['mIoU'] == {'stage1': 14.0,
                                                                   'stage2': 15.0}
    out = capsys.readouterr().out
    assert 'AP DINOv2 (core)' in out and 'AP DINOv3' in out
    assert re.search(r'LR  \(O_1 - O_0 - max_k F_k\) +\| 1\.00 +\| 1\.00 +\| 1\.00 +\| 13\.00', out)
