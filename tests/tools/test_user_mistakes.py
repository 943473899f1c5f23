"""What a new user's first mistakes print: one line naming the input and what to do, no
traceback (unless ``--debug`` or ``MMSEG_UEM_DEBUG=1``), checked before the model is built
where the input alone tells (tools/infer.py, tools/test.py, as a user runs them)."""
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'reliability'))
from rel_utils import (  # noqa: E402
    ROOT,
    make_data,
    run_tool,
    tool_env,
    write_config,
)

INFER = ROOT / 'tools' / 'infer.py'
TEST = ROOT / 'tools' / 'test.py'


def _one_line(proc) -> str:
    """The whole of stderr, asserted to be one error line without a traceback."""
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert 'Traceback' not in proc.stderr and len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    """A stage-2 config and checkpoint (never built: every mistake here is caught first)."""
    tmp = tmp_path_factory.mktemp('mistakes')
    data = make_data(tmp / 'data', road_anomaly=1)
    data['coco'] = str(tmp / 'unused_coco')
    config = write_config(tmp / 's2.py', data, stage=2, stage1=str(tmp / 'none.pth'))
    ckpt = tmp / 'model.pth'
    ckpt.write_bytes(b'not read before the inputs are checked')
    return config, ckpt


def test_two_inputs_with_one_name_refused_before_the_model(files, tmp_path):
    config, ckpt = files
    folder = tmp_path / 'frames'
    folder.mkdir()
    image = np.full((28, 28, 3), 100, np.uint8)
    cv2.imwrite(str(folder / 'top.jpg'), image)
    cv2.imwrite(str(folder / 'top.png'), image)
    proc = run_tool(INFER, folder, config, ckpt, '--out-dir', tmp_path / 'out', cwd=tmp_path,
                    check=False)
    line = _one_line(proc)
    assert line == (f"ValueError: images {folder / 'top.jpg'} and {folder / 'top.png'} would "
                    f"both be saved as 'top' (image folder {str(folder)!r}): outputs must not "
                    'overwrite each other; rename one of them or run them separately')
    assert not (tmp_path / 'out').exists()


def test_fake_video_missing_input_and_config_typo(files, tmp_path):
    config, ckpt = files
    fake = tmp_path / 'drive.mp4'
    fake.write_text('not a video')
    line = _one_line(run_tool(INFER, fake, config, ckpt, cwd=tmp_path, check=False))
    assert line == (f'ValueError: {fake} is not a readable video: OpenCV finds no frame in it '
                    '(a file with a video name that holds no video?)')
    line = _one_line(run_tool(INFER, tmp_path / 'nothing.jpg', config, ckpt, cwd=tmp_path,
                              check=False))
    assert line == (f"FileNotFoundError: input {tmp_path / 'nothing.jpg'} does not exist (an "
                    'image, a folder, a video file or a camera index)')
    typo = 'configs/uem/dinov2_gg_citscapes.py'
    for tool, args in ((INFER, [fake, typo, ckpt]), (TEST, [typo, ckpt])):
        line = _one_line(run_tool(tool, *args, cwd=ROOT, check=False))
        assert line == (f'FileNotFoundError: config {typo} does not exist; did you mean '
                        'configs/uem/dinov2_gg_cityscapes.py?')


def test_debug_shows_the_traceback(files, tmp_path):
    config, ckpt = files
    proc = run_tool(INFER, tmp_path / 'nothing.jpg', config, ckpt, '--debug', cwd=tmp_path,
                    check=False)
    assert proc.returncode == 1 and 'Traceback' in proc.stderr
    env = dict(tool_env(), MMSEG_UEM_DEBUG='1')
    proc = subprocess.run([sys.executable, str(INFER), str(tmp_path / 'nothing.jpg'),
                           str(config), str(ckpt)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and 'Traceback' in proc.stderr


@pytest.mark.slow
def test_misspelt_test_cfg_key_through_cfg_options(files, tmp_path):
    """``model.test_cfg.scor=ID`` was merged silently and the LLR numbers reported."""
    config, _ = files
    ckpt = tmp_path / 'empty.pth'
    torch.save(dict(state_dict={}), ckpt)  # the model is refused before the file is matched
    line = _one_line(run_tool(TEST, config, ckpt, '--work-dir', tmp_path / 'work',
                              '--cfg-options', 'model.test_cfg.scor=ID', cwd=tmp_path,
                              check=False))
    assert line == ("ValueError: model.test_cfg: unknown key 'scor' (did you mean 'score'?); "
                    'valid keys: batch_windows, crop_size, mode, score, stride')
