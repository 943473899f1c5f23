"""Scoring a stock mmseg segmentor (mmseg's own FCN-R18 config and a checkpoint of it) with
OoDMetric: the README's delta config makes it a UEMEncoderDecoder without a UEM."""
import os.path as osp
import sys
from pathlib import Path

import mmseg
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'reliability'))
from rel_utils import ROOT, make_data, read_metrics, run_tool  # noqa: E402

STOCK = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs', 'fcn',
                 'fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py')
DELTA = """
_base_ = [{stock!r}]
custom_imports = dict(imports=['mmseg_uem'], allow_failed_imports=False)
model = dict(type='UEMEncoderDecoder', pretrained=None, auxiliary_head=None,
             test_cfg=dict(mode='whole', score={score!r}))
test_dataloader = dict(
    _delete_=True, batch_size=1, num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='RoadAnomalyDataset', data_root={root!r},
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadOoDAnnotations'),
                           dict(type='PackSegInputs')]))
test_evaluator = dict(_delete_=True, type='OoDMetric', ood_metrics=['AP', 'FPR95'])
"""


@pytest.mark.slow
@pytest.mark.skipif(not osp.isfile(STOCK), reason="mmseg's packaged configs are missing")
def test_stock_fcn_checkpoint_scored_with_maxlogit(tmp_path):
    data = make_data(tmp_path / 'data', road_anomaly=2)
    # a checkpoint of the stock model as mmseg would save it (random weights: no download)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        stock = MODELS.build(Config.fromfile(STOCK).model)
    assert type(stock).__name__ == 'EncoderDecoder'
    ckpt = tmp_path / 'fcn.pth'
    torch.save(dict(meta=dict(iter=0), state_dict=stock.state_dict()), ckpt)

    config = tmp_path / 'fcn_r18_test-road-anomaly.py'
    config.write_text(DELTA.format(stock=STOCK, score='MaxLogit', root=data['road_anomaly']))
    run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--work-dir', tmp_path / 'work',
             cwd=tmp_path)
    metrics = read_metrics(tmp_path / 'work')
    assert 0.0 <= metrics['ood/AP'] <= 100.0 and 0.0 <= metrics['ood/FPR95'] <= 100.0

    # the stock auxiliary head is not a UEM: kept, it is refused by name
    kept = tmp_path / 'kept_aux.py'
    kept.write_text(DELTA.format(stock=STOCK, score='MaxLogit', root=data['road_anomaly'])
                    .replace('auxiliary_head=None,', ''))
    proc = run_tool(ROOT / 'tools' / 'test.py', kept, ckpt, '--work-dir', tmp_path / 'w2',
                    cwd=tmp_path, check=False)
    assert proc.returncode != 0 and "auxiliary_head is 'FCNHead'" in proc.stderr
