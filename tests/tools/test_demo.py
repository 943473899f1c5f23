"""The embedded demo (``tools/demo.py``, sections in ``tools/demo/``): its sections, and its
numbers pinned to the expected ones within their tolerance, both read from
``configs/uem/demo/expected_results.json`` (the file the docs quote).

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
