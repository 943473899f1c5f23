"""Bad models and checkpoints, end to end through tools/train.py and tools/test.py.

- DINOv2 weights of another architecture, or with / without register tokens against the
  config: the error lists the mismatched keys (and hints at ``_reg``), before any step;
- a truncated checkpoint (DINOv2 weights, stage-1 checkpoint, test checkpoint): an error
  naming the file;
- a pickle holding arbitrary objects, offered as DINOv2 weights, as the stage-1 checkpoint or
  to tools/test.py: refused by ``torch.load(weights_only=True)`` -- the object's code never
  runs (it would create a marker file);
- a stage-2 config whose stage-1 checkpoint does not exist: tools/train.py stops before
  building anything, saying how to produce it;
- the same wrong checkpoint given to tools/test.py, tools/infer.py, the ONNX export and as a
  stage-1 checkpoint: one error type, one message format, the same keys and hints.
"""
import importlib.util
import pathlib
import re
import sys

import pytest
import torch
from rel_utils import (
    ROOT,
    checkpoint_iters,
    last_error_line,
    make_data,
    make_stage1_checkpoint,
    run_tool,
    write_config,
)

from mmseg_uem.models.backbones import DINOv2
from mmseg_uem.utils.checkpoint import CheckpointMismatchError, CheckpointReadError

TINY = dict(embed_dims=32, num_layers=4, num_heads=2)


pytestmark = pytest.mark.usefixtures('fast_runner')  # Runners built in this process


class _Payload:
    """Unpickling this calls ``Path.touch(marker)``: proof that code ran."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker, )


def _malicious(path: pathlib.Path, marker: pathlib.Path, state: dict) -> pathlib.Path:
    torch.save(dict(state, payload=_Payload(marker)), path)
    return path


def _truncated(path: pathlib.Path, source: pathlib.Path) -> pathlib.Path:
    data = source.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def _dinov2_weights(path: pathlib.Path, **arch) -> pathlib.Path:
    arch = dict(TINY, **arch)
    torch.save(DINOv2(arch=arch, out_indices=[arch['num_layers'] - 1]).state_dict(), path)
    return path


@pytest.fixture
def run_main(monkeypatch, tmp_path):
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.chdir(tmp_path)

    def run(tool, *args):
        spec = importlib.util.spec_from_file_location(f'uem_tool_{tool}',
                                                      ROOT / 'tools' / f'{tool}.py')
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *map(str, args)])
        return module.main()

    return run


@pytest.fixture
def data(tmp_path):
    return make_data(tmp_path / 'data', num_train=2, coco=True, road_anomaly=1)


def _weights_cases(tmp_path):
    marker = tmp_path / 'code_ran'
    reg = _dinov2_weights(tmp_path / 'reg4.pth', num_register_tokens=4)
    return marker, {
        'registers in checkpoint, none in config': (
            dict(), reg, CheckpointMismatchError,
            r'unexpected keys \(1\): register_tokens[\s\S]*use a "_reg" arch'),
        'registers in config, none in checkpoint': (
            dict(num_register_tokens=4), _dinov2_weights(tmp_path / 'plain.pth'),
            CheckpointMismatchError,
            r'missing keys \(1\): register_tokens[\s\S]*use an arch without "_reg"'),
        'another width': (
            dict(), _dinov2_weights(tmp_path / 'wide.pth', embed_dims=48, num_heads=3),
            CheckpointMismatchError, r"shape mismatches \(checkpoint vs model\) \(\d+\)[\s\S]*"
                          r"checkpoint's embedding dim is 48, the model's 32"),
        'another depth': (
            dict(), _dinov2_weights(tmp_path / 'shallow.pth', num_layers=2),
            CheckpointMismatchError,
            r'missing keys \(28\): blocks\.2\.attn[\s\S]*checkpoint has 2 blocks, the model 4'),
        'truncated': (dict(), _truncated(tmp_path / 'cut.pth', reg), CheckpointReadError,
                      'is truncated or not a torch checkpoint'),
        'pickle with code': (dict(), _malicious(tmp_path / 'evil.pth', marker, {}),
                             CheckpointReadError, r'refused .*weights_only.*GLOBAL pathlib'),
    }


@pytest.mark.slow
@pytest.mark.parametrize('case', ['registers in checkpoint, none in config',
                                  'registers in config, none in checkpoint',
                                  'another width', 'another depth', 'truncated',
                                  'pickle with code'])
def test_bad_dinov2_weights_stop_training_before_any_step(tmp_path, data, run_main, case):
    marker, cases = _weights_cases(tmp_path)
    arch, weights, error, pattern = cases[case]
    cfg = write_config(tmp_path / 'weights.py', data, max_iters=1,
                       backbone_init=dict(type='Pretrained', checkpoint=str(weights)))
    options = [f'model.backbone.arch.{k}={v}' for k, v in arch.items()]
    with pytest.raises(error, match=pattern) as err:
        run_main('train', cfg, '--work-dir', tmp_path / 'work',
                 *(['--cfg-options', *options] if options else []))
    assert str(weights) in str(err.value)
    assert not marker.exists()
    assert checkpoint_iters(tmp_path / 'work') == []


@pytest.mark.slow
def test_bad_stage1_checkpoints_stop_stage2_naming_them(tmp_path, data, run_main):
    marker = tmp_path / 'code_ran'
    stage1_cfg = write_config(tmp_path / 's1.py', data)
    good = make_stage1_checkpoint(stage1_cfg, tmp_path / 'stage1.pth')
    state = torch.load(good, map_location='cpu', weights_only=True)

    cut = _truncated(tmp_path / 'cut.pth', good)
    cfg = write_config(tmp_path / 'cut_s2.py', data, stage=2, stage1=str(cut), max_iters=1)
    with pytest.raises(ValueError, match=f'stage-1 checkpoint {re.escape(str(cut))} is '
                                         'truncated'):
        run_main('train', cfg, '--work-dir', tmp_path / 'work_cut')
    assert not (tmp_path / 'work_cut').exists()

    evil = _malicious(tmp_path / 'evil.pth', marker, state)
    cfg = write_config(tmp_path / 'evil_s2.py', data, stage=2, stage1=str(evil), max_iters=1)
    with pytest.raises(CheckpointReadError, match=rf'refused to load stage-1 checkpoint '
                       rf'{re.escape(str(evil))}: .*weights_only[\s\S]*GLOBAL pathlib'):
        run_main('train', cfg, '--work-dir', tmp_path / 'work_evil')
    assert not marker.exists()
    assert checkpoint_iters(tmp_path / 'work_evil') == []


@pytest.mark.slow
def test_bad_test_checkpoints_are_refused(tmp_path, data, run_main):
    marker = tmp_path / 'code_ran'
    cfg = write_config(tmp_path / 'test_cfg.py', data)
    good = make_stage1_checkpoint(cfg, tmp_path / 'stage1.pth')
    cut = _truncated(tmp_path / 'cut.pth', good)
    with pytest.raises(ValueError, match=f'checkpoint {re.escape(str(cut))} is truncated'):
        run_main('test', cfg, cut, '--work-dir', tmp_path / 'work')
    evil = _malicious(tmp_path / 'evil.pth', marker,
                      torch.load(good, map_location='cpu', weights_only=True))
    with pytest.raises(CheckpointReadError, match=rf'refused to load checkpoint '
                       rf'{re.escape(str(evil))}: .*weights_only[\s\S]*GLOBAL pathlib'):
        run_main('test', cfg, evil, '--work-dir', tmp_path / 'work')
    assert not marker.exists()


@pytest.mark.slow
def test_missing_stage1_checkpoint_stops_tools_train_before_anything(tmp_path, data):
    """Through a real ``python tools/train.py`` process, as a user runs it."""
    missing = tmp_path / 'stage1' / 'iter_500.pth'
    cfg = write_config(tmp_path / 'stage2.py', data, stage=2, stage1=str(missing))
    with open(cfg, 'a') as f:
        f.write("stage1_config = 'configs/uem/demo/demo_g_stage1.py'\n")
    proc = run_tool(ROOT / 'tools' / 'train.py', cfg, '--work-dir', tmp_path / 'work',
                    cwd=tmp_path, check=False)
    assert proc.returncode == 1
    assert last_error_line(proc).startswith(
        "or point to an existing checkpoint")  # the last line of the multi-line message
    assert f"FileNotFoundError: stage 2 needs the stage-1 checkpoint model.stage1_checkpoint="\
        f"'{missing}', which does not exist" in proc.stderr
    assert f'python tools/train.py configs/uem/demo/demo_g_stage1.py --work-dir ' \
        f'{missing.parent}' in proc.stderr
    assert not (tmp_path / 'work').exists()  # no Runner, no work_dir, no log


def _scored(work_dir: pathlib.Path) -> list:
    """Metric files a test run wrote (none if it stopped before scoring an image)."""
    return [p for p in work_dir.rglob('*.json') if 'vis_data' not in p.parts]


@pytest.mark.slow
def test_checkpoints_that_do_not_fit_the_config_are_refused_before_scoring(
        tmp_path, data, run_main):
    """A stage-1 file for a stage-2 config, bare DINOv2 weights, G-D weights for a D-D
    config, a stage-2 file for a stage-1 config: each an error naming the file, the config
    and the keys; a complete checkpoint is scored, and --allow-checkpoint-mismatch scores a
    partial one."""
    stage1_cfg = write_config(tmp_path / 's1.py', data)
    stage1 = make_stage1_checkpoint(stage1_cfg, tmp_path / 'stage1.pth')
    gd_cfg = write_config(tmp_path / 'gd.py', data, stage=2, stage1=str(stage1), uem='linear')
    gd = make_stage1_checkpoint(gd_cfg, tmp_path / 'gd.pth')  # a complete G-D model
    dd_cfg = write_config(tmp_path / 'dd.py', data, stage=2, stage1=str(stage1),
                          head='LinearDecoderHead', uem='linear')
    raw = _dinov2_weights(tmp_path / 'dinov2.pth')
    cases = [
        (gd_cfg, stage1, r'missing keys \(\d+\): auxiliary_head\.[\s\S]*stage-1 checkpoint'),
        (gd_cfg, raw, r'missing keys[\s\S]*unexpected keys \(\d+\): blocks\.0\.'
                      r'[\s\S]*no key of the file belongs to the model'),
        (dd_cfg, gd, r'missing keys \(\d+\): decode_head\.conv_seg[\s\S]*unexpected keys '
                     r'\(\d+\): decode_head\.classifier\.[\s\S]*another model variant'),
        # a UEM is not a stock auxiliary head: a stage-2 file in a stage-1 config is refused
        (stage1_cfg, gd, r'unexpected keys \(\d+\): auxiliary_head\.'),
    ]
    for i, (cfg, ckpt, pattern) in enumerate(cases):
        work = tmp_path / f'work{i}'
        with pytest.raises(ValueError, match=pattern) as err:
            run_main('test', cfg, ckpt, '--work-dir', work)
        assert f'checkpoint {ckpt} does not fit the model of {cfg}' in str(err.value)
        assert _scored(work) == []

    run_main('test', gd_cfg, gd, '--work-dir', tmp_path / 'complete')
    assert _scored(tmp_path / 'complete')
    run_main('test', gd_cfg, stage1, '--work-dir', tmp_path / 'relaxed',
             '--allow-checkpoint-mismatch')
    assert _scored(tmp_path / 'relaxed')


_MISMATCH = re.compile(r'^(?:stage-1 )?checkpoint (?P<path>\S+) does not fit (?P<target>.+) '
                       r'\((?P<n>\d+) tensors\):(?P<lists>(?:\n  (?:missing keys|unexpected keys|'
                       r'shape mismatches \(checkpoint vs model\)) \(\d+\): .*)+)'
                       r'(?P<hints>(?:\n  hint: .*)+)(?:\n  \(.*\))?$')


@pytest.mark.slow
@pytest.mark.parametrize('mistake', ['bare DINOv2 weights', 'G-D weights for D-D'])
def test_one_wrong_checkpoint_one_error_in_every_tool(tmp_path, data, run_main, mistake):
    """tools/test.py, tools/infer.py, the ONNX export and the stage-1 hand-over (stage-2
    training) given the same wrong file: one error type, one message format naming the file,
    the same hint (and, for the three whole-model tools, the same keys); nothing is scored,
    trained or written."""
    stage1_cfg = write_config(tmp_path / 's1.py', data)
    stage1 = make_stage1_checkpoint(stage1_cfg, tmp_path / 'stage1.pth')
    gd_cfg = write_config(tmp_path / 'gd.py', data, stage=2, stage1=str(stage1), uem='linear')
    dd_cfg = write_config(tmp_path / 'dd.py', data, stage=2, stage1=str(stage1),
                          head='LinearDecoderHead', uem='linear')
    if mistake == 'bare DINOv2 weights':
        wrong, cfg = _dinov2_weights(tmp_path / 'dinov2.pth'), gd_cfg
        hint = 'no key of the file belongs to the model: bare backbone weights'
    else:
        wrong, cfg = make_stage1_checkpoint(gd_cfg, tmp_path / 'gd.pth'), dd_cfg
        hint = 'another model variant (e.g. G-D vs D-D)'
    stage2_cfg = write_config(tmp_path / 'wrong_s2.py', data, stage=2, stage1=str(wrong),
                              max_iters=1, head='LinearDecoderHead' if cfg == dd_cfg
                              else 'GMMHead', uem='linear')
    image = next((tmp_path / 'data').rglob('*leftImg8bit.png'))
    calls = {
        'tools/test.py': ('test', cfg, wrong, '--work-dir', tmp_path / 'test'),
        'tools/infer.py': ('infer', image, cfg, wrong, '--out-dir', tmp_path / 'infer'),
        'ONNX export': ('deployment/pytorch2onnx', cfg, wrong, '--out',
                        tmp_path / 'onnx' / 'm.onnx'),
        'stage-1 checkpoint': ('train', stage2_cfg, '--work-dir', tmp_path / 'train'),
    }
    errors = {}
    for name, args in calls.items():
        with pytest.raises(CheckpointMismatchError) as err:
            run_main(*args)
        errors[name] = err.value
        match = _MISMATCH.match(str(err.value))
        assert match, f'{name}: {err.value}'
        assert match['path'] == str(wrong), name
        assert f'\n  hint: {hint}' in str(err.value), f'{name}: {err.value}'
    assert len({tuple(e.hints) for e in errors.values()}) == 1, errors
    whole_model = [e for name, e in errors.items() if name != 'stage-1 checkpoint']
    assert len({(tuple(e.missing), tuple(e.unexpected)) for e in whole_model}) == 1, errors
    assert not (tmp_path / 'test').exists() or _scored(tmp_path / 'test') == []
    assert not (tmp_path / 'infer' / 'vis').exists()
    assert not (tmp_path / 'onnx' / 'm.onnx').exists()
    assert checkpoint_iters(tmp_path / 'train') == []
