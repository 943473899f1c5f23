"""``tools/model_converters/uem_official2mmseg.py`` then ``tools/test.py`` on the result.

The official D-D file is built at ViT-S width (``vits14_reg``, so the paper config's arch
can be switched by ``--cfg-options`` alone) with a small decoder and heads, and tested with
the paper's RoadAnomaly config on miniature RoadAnomaly frames. The config's stage-1
checkpoint does not exist: a converted OoD model is one complete checkpoint.
"""
import re
import sys
from pathlib import Path

import pytest
import torch

from mmseg_uem.testing.official_uem import lightning_checkpoint, official_uem_state_dict
from mmseg_uem.testing.ood_sets import make_road_anomaly

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / 'tests' / 'reliability'))
from rel_utils import run_tool  # noqa: E402  (the suite's one tool runner)

TOOL = ROOT / 'tools' / 'model_converters' / 'uem_official2mmseg.py'


class Hparams(dict):
    """Attribute dict as the official EasyDict config (attributes mirror items)."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        super().__setitem__(name, value)

    __setitem__ = __setattr__


@pytest.mark.slow
def test_convert_then_test_road_anomaly(tmp_path):
    hparams = Hparams()
    hparams.MODEL = Hparams()
    hparams.MODEL.SEGMENTOR_CKPT = 'ckpts/linear-segmentor.ckpt'
    state = official_uem_state_dict('D-D', vit_dims=384, vit_layers=12, grid=37,
                                    decoder_channels=16, num_classes=3, projector=(24, 24, 16))
    src = tmp_path / 'd_d.ckpt'
    torch.save(lightning_checkpoint(state, hyper_parameters=dict(config=hparams)), src)
    dst = tmp_path / 'checkpoints' / 'uem_dd.pth'

    out = run_tool(TOOL, src, dst, cwd=tmp_path, timeout=600).stdout
    assert re.search(r'official UEM D-D checkpoint, 267 tensors: 267 mapped, 0 checked', out)
    assert f'wrote 267 tensors to {dst}' in out
    assert set(torch.load(dst, weights_only=True)) == {'state_dict', 'meta'}
    # the sizes that differ from the paper config, under their real config keys, and the
    # delta config that holds them (it took 4 tries and 12 --cfg-options before)
    delta = tmp_path / 'checkpoints' / 'uem_dd_config.py'
    assert ('its model needs model.backbone.arch=vits14_reg '
            'model.decode_head.in_channels=[384,384,384,384] model.decode_head.channels=16 '
            'model.decode_head.num_classes=3 model.auxiliary_head.in_channels=384 '
            'model.auxiliary_head.mlp_channels=(24,24,16) '
            f'model.auxiliary_head.num_inlier_classes=3\nwritten as the config {delta}') in out
    assert f'test: python tools/test.py {delta.relative_to(tmp_path)} {dst}' in out

    wrong = run_tool(TOOL, src, tmp_path / 'x.pth', '--variant', 'G-D', cwd=tmp_path,
                     check=False, timeout=600)
    assert wrong.returncode != 0
    assert 'is a D-D checkpoint, not G-D' in wrong.stderr
    assert not (tmp_path / 'x.pth').exists()

    make_road_anomaly(str(tmp_path / 'RoadAnomaly_jpg'), num_frames=3, size=(56, 112), seed=0)
    cfg_options = [  # where the data is: nothing of the model
        f'test_dataloader.dataset.data_root={tmp_path / "RoadAnomaly_jpg"}',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False']
    assert not (tmp_path / 'work_dirs').exists()  # the config's stage-1 file is absent
    test = run_tool(ROOT / 'tools' / 'test.py', delta, dst, '--eval', 'AP', 'FPR95',
                    '--work-dir', tmp_path / 'work', '--cfg-options', *cfg_options,
                    cwd=tmp_path, timeout=600)
    log = test.stdout + test.stderr
    assert re.search(r'AP: \d+\.\d+', log) and re.search(r'FPR95: \d+\.\d+', log), log[-2000:]
    assert 'does not fit the model' not in log and 'mismatch' not in log, log[-3000:]
