"""The embedded demo: its sections, and its numbers pinned to the expected ones within their
tolerance, both read from ``configs/uem/demo/expected_results.json`` (the file the docs quote).

``test_core_demo_reproduces_the_expected_numbers`` runs ``tools/demo.py --sections core`` as a user
runs it (a subprocess, one torch thread as every tool test here), in ``tmp_path``, and compares
its table with the expected numbers: a change of the demo's numbers must come with a change
of that file (and ``tests/test_docs.py`` then requires the docs to quote the new ones).
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doc_pages import demo_expected

from mmseg_uem.apis import demo

ROOT = Path(__file__).resolve().parents[2]
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
    sections = [demo.DemoSection('a', 'first', calls.append),
                demo.DemoSection('b', 'second', calls.append, requires=('a', )),
                demo.DemoSection('c', 'third', calls.append)]
    monkeypatch.setattr(demo, 'SECTIONS', sections)
    assert [s.name for s in demo.select_sections(['b'])] == ['a', 'b']
    assert [s.name for s in demo.select_sections(['c', 'a'])] == ['a', 'c']
    assert [s.name for s in demo.select_sections()] == ['a', 'b', 'c']
    with pytest.raises(ValueError, match=r"unknown demo section\(s\) \['x'\]; valid: "
                                         r"\['a', 'b', 'c'\]"):
        demo.select_sections(['x'])
    assert demo.SECTIONS[0].name == 'a'


def test_core_is_the_first_section():
    assert demo.SECTIONS[0].name == 'core' and demo.SECTIONS[0].requires == ()


@pytest.mark.slow
def test_core_demo_reproduces_the_expected_numbers(tmp_path):
    table, miou1, miou2, tol = expected_demo_numbers()
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    env.pop(demo.DATA_ENV, None)
    proc = subprocess.run([sys.executable, str(ROOT / 'tools' / 'demo.py'), '--sections',
                           'core', '--work-dir', str(tmp_path / 'demo')], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    # progress while training, and where each log is
    assert re.search(r'stage 1 iter \d+/500  loss [\d.]+  eta ', out)
    assert re.search(r'stage 2 iter 300/300  loss [\d.]+', out)
    assert f'log: {tmp_path / "demo" / "stage1" / "train.log"}' in out
    results = json.loads((tmp_path / 'demo' / 'demo_results.json').read_text())['core']
    got = {s: {m: results[s][f'ood/{m}'] for m in ('AP', 'FPR95', 'AUROC')} for s in SCORES}
    print('demo numbers (1 thread):', json.dumps(got), results['mIoU'])
    for score, metrics in table.items():
        for metric, value in metrics.items():
            assert abs(got[score][metric] - value) <= tol, (score, metric, got[score], value)
    assert abs(results['mIoU']['stage1'] - miou1) <= tol
    assert abs(results['mIoU']['stage2'] - miou2) <= tol
    # stage 2 leaves stage 1 bitwise unchanged, on every machine
    assert results['mIoU']['stage1'] == results['mIoU']['stage2']


def test_stock_section_checkpoints_match_its_configs():
    """The stock section reads the checkpoints its configs write (their lengths)."""
    from mmengine.config import Config

    from mmseg_uem.apis import demo_stock

    assert [s.name for s in demo.select_sections(['stock'])] == ['stock']
    for config, ckpt in ((demo_stock.STOCK_CONFIG, demo_stock.STOCK_CKPT),
                         (demo_stock.UEM_CONFIG, demo_stock.UEM_CKPT)):
        cfg = Config.fromfile(str(ROOT / config))
        assert ckpt.endswith(f'iter_{cfg.train_cfg.max_iters}.pth'), (config, ckpt)
        assert cfg.default_hooks.checkpoint.interval == cfg.train_cfg.max_iters
    stock = Config.fromfile(str(ROOT / demo_stock.STOCK_CONFIG)).model
    uem = Config.fromfile(str(ROOT / demo_stock.UEM_CONFIG)).model
    assert stock.type == 'EncoderDecoder' and stock.auxiliary_head.type == 'FCNHead'
    assert uem.type == 'UEMEncoderDecoder' and uem.auxiliary_head.type == 'UEMHead'
    assert uem.backbone == stock.backbone and uem.decode_head == stock.decode_head
