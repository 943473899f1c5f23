"""The ``UEMInferencer`` snippet and the first ``tools/infer.py`` commands of
docs/en/user_guides/3_inference.md, run as written.

In a folder laid out as after ``make demo`` (the demo's stage-2 config, an untrained
checkpoint of its model at the path the snippet names, an operating point file where
``tools/test.py`` writes it, and a ``street.jpg``), the snippet's own code runs unchanged and
must return the maps and write the files its comments name; the commands run with CONFIG and
CKPT set to those files.
"""
import os
import shlex
import subprocess
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from doc_pages import DOCS, ROOT, code_blocks, snippet
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

from mmseg_uem.evaluation.io import load_anomaly_map
from mmseg_uem.evaluation.operating_point import save_operating_point

PAGE = DOCS / 'user_guides' / '3_inference.md'
CONFIG = 'configs/uem/demo/demo_gd.py'


def _demo_layout(root: Path, code: str) -> None:
    """The files the snippet reads, where it reads them."""
    (root / 'configs').symlink_to(ROOT / 'configs')
    assert f"'{CONFIG}'" in code
    weights = code.split("weights='")[1].split("'")[0]
    threshold = code.split("threshold='")[1].split("'")[0]
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(Config.fromfile(str(ROOT / CONFIG)).model)
    (root / weights).parent.mkdir(parents=True)
    torch.save(dict(meta=dict(iter=300), state_dict=model.state_dict()), root / weights)
    save_operating_point(str(root / threshold), threshold=0.0, tpr=0.95, tpr_reached=0.95,
                         fpr=0.1, positives=10, negatives=90, score='LLR')
    image = np.random.default_rng(0).integers(0, 256, (120, 200, 3), dtype=np.uint8)
    mmcv.imwrite(image, str(root / 'street.jpg'))


@pytest.mark.slow
def test_inferencer_snippet_runs_as_written(tmp_path, monkeypatch):
    code = snippet(PAGE, '## Python: `UEMInferencer`')
    _demo_layout(tmp_path, code)
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    scope: dict = {}
    exec(compile(code, str(PAGE), 'exec'), scope)  # the page's code, unchanged

    predictions = scope['result']['predictions']
    score, classes = predictions['anomaly_score'], predictions['sem_seg']
    assert score.shape == classes.shape == (120, 200)  # at the input's size
    assert score.dtype == np.float32 and np.isfinite(score).all()
    assert scope['inferencer'].threshold == 0.0  # the operating point file was read
    out = tmp_path / 'outputs'
    assert (out / 'vis' / 'street.png').is_file()
    assert (out / 'pred' / 'street_pred.png').is_file()
    np.testing.assert_array_equal(load_anomaly_map(str(out / 'pred' / 'street.npz'))['score'],
                                  score)


@pytest.mark.slow
def test_infer_commands_run_as_written(tmp_path):
    code = snippet(PAGE, '## Python: `UEMInferencer`')
    _demo_layout(tmp_path, code)
    weights = code.split("weights='")[1].split("'")[0]
    (tmp_path / 'frames').mkdir()
    for name in ('a.jpg', 'b.jpg'):
        (tmp_path / 'frames' / name).write_bytes((tmp_path / 'street.jpg').read_bytes())
    block = next(b for b in code_blocks(PAGE, 'bash') if 'tools/infer.py' in b)
    lines = [line.split(' # ')[0] for line in block.splitlines()]
    single = next(line for line in lines if line.startswith('python tools/infer.py street.jpg'))
    folder = next(line for line in lines if line.startswith('python tools/infer.py frames/'))
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    for line in (single, folder):
        args = shlex.split(line.replace('CONFIG', CONFIG).replace('CKPT', weights))
        assert args[:2] == ['python', 'tools/infer.py']
        proc = subprocess.run([sys.executable, str(ROOT / args[1]), *args[2:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (line, proc.stdout[-2000:] + proc.stderr[-2000:])
    saved = sorted(p.relative_to(tmp_path / 'outputs').as_posix()
                   for p in (tmp_path / 'outputs').rglob('*') if p.is_file())
    assert {'pred/a.npz', 'pred/a_pred.png', 'pred/b.npz', 'pred/b_pred.png'} <= set(saved), saved
