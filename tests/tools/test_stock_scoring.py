"""The "Scoring a stock mmseg segmentor" recipe of ``docs/en/user_guides/2_train_test.md``,
run as a user runs it.

A stock mmseg config and checkpoint (a tiny DeepLabV3+: mmseg's ``EncoderDecoder`` with its
auxiliary ``FCNHead``, BatchNorm statistics set away from their defaults), the guide's delta
config (read from the page; only its ``_base_``, data root and worker count are pointed at
the test's files) that makes it a ``UEMEncoderDecoder`` without a UEM, then ``tools/test.py
--eval AP FPR95 --out``. The saved MaxLogit maps must be -max_k of the logits that mmseg's own
``inference_model`` gives with the stock model, and the strict checkpoint check must read
every tensor of the file except the auxiliary head's, which it names.
"""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from doc_pages import DOCS, snippet
from mmengine.config import Config

from mmseg_uem.evaluation.io import load_anomaly_map
from mmseg_uem.testing.ood_sets import make_road_anomaly
from mmseg_uem.testing.stock_models import stock_cfg

ROOT = Path(__file__).resolve().parents[2]

PAGE = DOCS / 'user_guides' / '2_train_test.md'
#: what the test points at its own files: (the page's text, a pattern; the test's)
EDITS = ((r"^_base_ = \['path/to/mmsegmentation/configs/fcn/.*\.py'\]$", "_base_ = ['./stock.py']"),
         (r"data_root='data/RoadAnomaly_jpg/'", "data_root='{root}'"),
         (r'num_workers=2', 'num_workers=0'))


def delta_config(root: Path) -> str:
    """The page's delta config, with its base, data root and workers set for this test."""
    text = snippet(PAGE, '### Scoring a stock mmseg segmentor')
    for pattern, ours in EDITS:
        text, found = re.subn(pattern, ours.replace('{root}', str(root)), text, flags=re.M)
        assert found == 1, f'{PAGE.name}: expected {pattern!r} once in the snippet'
    return text


def _write_stock(tmp_path: Path) -> Path:
    """The stock side: an mmseg-style config (model, Cityscapes-like test loop) and its
    checkpoint with every tensor set (BatchNorm statistics included)."""
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules

    register_all_modules()
    model_cfg = stock_cfg('deeplabv3plus', num_classes=3)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    Config(dict(
        _base_=[str(ROOT / 'configs' / '_base_' / 'default_runtime.py')],
        model=model_cfg.to_dict(), test_pipeline=pipeline,
        test_dataloader=dict(batch_size=1, num_workers=0,
                             sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dict(type='CityscapesDataset', data_root='absent/',
                                          pipeline=pipeline)),
        test_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']),
        test_cfg=dict(type='TestLoop'))).dump(str(tmp_path / 'stock.py'))
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.normal_(0, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    ckpt = tmp_path / 'deeplabv3plus.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)
    return ckpt


@pytest.mark.slow
def test_stock_segmentor_scored_by_the_documented_recipe(tmp_path):
    from mmseg.apis import inference_model, init_model

    ckpt = _write_stock(tmp_path)
    make_road_anomaly(str(tmp_path / 'RoadAnomaly_jpg'), num_frames=2, size=(48, 96), seed=0)
    (tmp_path / 'stock_test-road-anomaly.py').write_text(
        delta_config(tmp_path / 'RoadAnomaly_jpg'))
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'test.py'), 'stock_test-road-anomaly.py',
         str(ckpt), '--eval', 'AP', 'FPR95', '--out', 'maps', '--work-dir', 'work'],
        cwd=tmp_path, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert re.search(r'ood/AP: [\d.]+', log) and re.search(r'ood/FPR95: [\d.]+', log), log[-2000:]
    aux = [k for k in torch.load(ckpt, weights_only=True)['state_dict']
           if k.startswith('auxiliary_head.')]
    assert aux and f'{len(aux)} tensors of a stock auxiliary head (auxiliary_head.*) not read' \
        in log, log[-3000:]
    assert 'does not fit' not in log

    # the reference: mmseg's own inference with the stock config and checkpoint
    stock = init_model(str(tmp_path / 'stock.py'), str(ckpt), device='cpu')
    maps = sorted((tmp_path / 'maps').rglob('*.npz'))
    frames = sorted((tmp_path / 'RoadAnomaly_jpg' / 'frames').glob('*.jpg'))
    assert [m.stem for m in maps] == [f.stem for f in frames]
    for frame, saved in zip(frames, maps):
        logits = inference_model(stock, str(frame)).seg_logits.data  # (K, H, W)
        expected = -logits.amax(0).numpy()
        score = load_anomaly_map(str(saved))['score']
        assert score.shape == expected.shape
        np.testing.assert_allclose(score, expected, rtol=1e-5, atol=1e-5)


def test_only_a_stock_auxiliary_head_is_left_unread():
    from mmseg_uem.models.segmentors.stock import stock_auxiliary_keys

    class Model(torch.nn.Module):
        with_auxiliary_head = False

    stock = {'decode_head.conv_seg.weight': 0, 'auxiliary_head.convs.0.conv.weight': 0,
             'auxiliary_head.conv_seg.weight': 0}
    assert stock_auxiliary_keys(Model(), stock) == ['auxiliary_head.convs.0.conv.weight',
                                                     'auxiliary_head.conv_seg.weight']
    uem = {'auxiliary_head.projector.0.weight': 0, 'auxiliary_head.conv_seg.weight': 0}
    assert stock_auxiliary_keys(Model(), uem) == []  # a UEM: a stage-2 file, a mismatch
    Model.with_auxiliary_head = True
    assert stock_auxiliary_keys(Model(), stock) == []  # the model's own head: compared
