"""tools/infer.py on a tiny two-stage model: an image, a folder and a video written by the
test (same frame count out), with --save-maps and an operating point threshold."""
import json
import shutil
import sys
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'reliability'))
from rel_utils import (  # noqa: E402
    ROOT,
    make_data,
    make_stage1_checkpoint,
    run_tool,
    write_config,
)

from mmseg_uem.evaluation.io import load_anomaly_map  # noqa: E402
from mmseg_uem.visualization import title_height  # noqa: E402

INFER = ROOT / 'tools' / 'infer.py'


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('infer_tool')
    data = make_data(tmp / 'data', road_anomaly=2)
    data['coco'] = str(tmp / 'unused_coco')
    stage1 = make_stage1_checkpoint(write_config(tmp / 's1.py', data), tmp / 's1.pth')
    config = write_config(tmp / 's2.py', data, stage=2, stage1=str(stage1))
    ckpt = make_stage1_checkpoint(config, tmp / 's2.pth')
    images = sorted(Path(data['road_anomaly'], 'frames').glob('*.jpg'))
    return config, ckpt, images


@pytest.mark.slow
def test_image_and_folder(model, tmp_path):
    config, ckpt, images = model
    (tmp_path / 'op.json').write_text(json.dumps(dict(threshold=0.0, tpr=0.95)))
    proc = run_tool(INFER, images[0], config, ckpt, '--out-dir', tmp_path / 'one',
                    '--save-maps', '--threshold', tmp_path / 'op.json', cwd=tmp_path)
    height, width = mmcv.imread(str(images[0])).shape[:2]
    png = mmcv.imread(str(tmp_path / 'one' / 'vis' / f'{images[0].stem}.png'))
    assert png.shape[0] == title_height(height) + height and png.shape[1] > 4 * width
    saved = load_anomaly_map(str(tmp_path / 'one' / 'pred' / f'{images[0].stem}.npz'))
    assert saved['score'].shape == (height, width)
    assert (tmp_path / 'one' / 'pred' / f'{images[0].stem}_pred.png').is_file()
    assert 'images/s' in proc.stdout
    run_tool(INFER, images[0].parent, config, ckpt, '--out-dir', tmp_path / 'all',
             '--batch-size', '2', cwd=tmp_path)
    assert sorted(p.stem for p in (tmp_path / 'all' / 'vis').glob('*.png')) == \
        [p.stem for p in images]
    assert not (tmp_path / 'all' / 'pred').exists()  # maps only with --save-maps
    bad = run_tool(INFER, tmp_path / 'nothing.jpg', config, ckpt, '--out-dir', tmp_path,
                   cwd=tmp_path, check=False)
    assert bad.returncode != 0 and 'nothing.jpg does not exist' in bad.stderr


@pytest.mark.slow
def test_video_in_video_out_same_frame_count(model, tmp_path):
    config, ckpt, images = model
    frame = mmcv.imread(str(images[0]))
    video = tmp_path / 'drive.mp4'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 5.0,
                             (frame.shape[1], frame.shape[0]))
    num_frames = 7
    for i in range(num_frames):
        writer.write(np.roll(frame, 4 * i, axis=1))
    writer.release()
    assert len(mmcv.VideoReader(str(video))) == num_frames
    proc = run_tool(INFER, video, config, ckpt, '--out-dir', tmp_path / 'out',
                    '--batch-size', '3', '--save-maps', cwd=tmp_path)
    out = mmcv.VideoReader(str(tmp_path / 'out' / 'drive_anomaly.mp4'))
    assert len(out) == num_frames and out.fps == pytest.approx(5.0)
    assert out.height == title_height(frame.shape[0]) + frame.shape[0]
    assert len(list((tmp_path / 'out' / 'pred').glob('drive_*.npz'))) == num_frames
    assert f'{num_frames} frames' in proc.stdout and 'frames/s' in proc.stdout
    assert 'colour scale of all frames' in proc.stdout


@pytest.mark.slow
def test_folder_names_subfolders_and_what_it_skips(model, tmp_path):
    """A folder's subfolders were skipped without a word; with --recursive they are read and
    named by their path below the folder (as tools/test.py --out names its maps); two images
    with one stem in two subfolders keep apart."""
    config, ckpt, images = model
    folder = tmp_path / 'frames'
    for sub in ('s1', 's2'):
        (folder / sub).mkdir(parents=True)
        shutil.copy(images[0], folder / sub / 'a.jpg')
    shutil.copy(images[1], folder / 'b.jpg')
    (folder / 'notes.txt').write_text('x')
    flat = run_tool(INFER, folder, config, ckpt, '--out-dir', tmp_path / 'flat', cwd=tmp_path)
    assert (f'{folder}: 1 images; skipped 2 subfolders (not read without --recursive: s1, s2); '
            '1 non-image files') in flat.stdout
    assert sorted(p.name for p in (tmp_path / 'flat' / 'vis').iterdir()) == ['b.png']
    # none of the three warnings every run printed (mmseg's deprecated build_loss, the class
    # names missing from the checkpoint, the scope without a function registry)
    assert 'warn' not in (flat.stdout + flat.stderr).lower(), flat.stderr[-3000:]
    deep = run_tool(INFER, folder, config, ckpt, '--out-dir', tmp_path / 'deep', '--recursive',
                    '--save-maps', cwd=tmp_path)
    assert f'{folder}: 3 images; skipped 1 non-image files' in deep.stdout
    assert '3 images in' in deep.stdout
    vis = sorted(str(p.relative_to(tmp_path / 'deep' / 'vis'))
                 for p in (tmp_path / 'deep' / 'vis').rglob('*.png'))
    assert vis == ['b.png', 's1/a.png', 's2/a.png']
    for sub in ('s1', 's2'):
        saved = load_anomaly_map(str(tmp_path / 'deep' / 'pred' / sub / 'a.npz'))
        assert saved['img_path'] == str(folder / sub / 'a.jpg')
        assert (tmp_path / 'deep' / 'pred' / sub / 'a_pred.png').is_file()


@pytest.mark.slow
def test_cfg_options_and_too_small_image(model, tmp_path):
    """``--cfg-options`` reaches the model (an unknown key is refused, a known one is used);
    a 1x1 image ends in one line stating the minimum size, not a traceback from the pixel
    decoder."""
    config, ckpt, images = model
    proc = run_tool(INFER, images[0], config, ckpt, '--out-dir', tmp_path / 'id',
                    '--save-maps', '--cfg-options', 'model.test_cfg.score=ID', cwd=tmp_path)
    assert load_anomaly_map(str(tmp_path / 'id' / 'pred' / f'{images[0].stem}.npz'))[
        'score_mode'] == 'ID', proc.stdout
    bad = run_tool(INFER, images[0], config, ckpt, '--cfg-options', 'model.test_cfg.scor=ID',
                   cwd=tmp_path, check=False)
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1] == (
        "ValueError: model.test_cfg: unknown key 'scor' (did you mean 'score'?); valid keys: "
        'batch_windows, crop_size, mode, score, stride')
    tiny = tmp_path / 'tiny.png'
    cv2.imwrite(str(tiny), np.zeros((1, 1, 3), np.uint8))
    bad = run_tool(INFER, tiny, config, ckpt, cwd=tmp_path, check=False)
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr, bad.stderr[-3000:]
    assert bad.stderr.strip().splitlines()[-1] == (
        f'ValueError: image {tiny} is 1x1 pixels (after the test pipeline); this model needs '
        'at least 43x43 (4 x 4 patches of 14 px, the last one padded)')
    ok = tmp_path / 'small.png'
    cv2.imwrite(str(ok), np.full((43, 43, 3), 90, np.uint8))
    run_tool(INFER, ok, config, ckpt, '--out-dir', tmp_path / 'small', cwd=tmp_path)
    small = tmp_path / 'small42.png'
    cv2.imwrite(str(small), np.full((42, 60, 3), 90, np.uint8))
    bad = run_tool(INFER, small, config, ckpt, cwd=tmp_path, check=False)
    assert bad.stderr.strip().splitlines()[-1].startswith(f'ValueError: image {small} is 42x60')


@pytest.mark.slow
def test_checkpoint_that_does_not_fit_gives_the_test_py_message(model, tmp_path):
    """A stage-1 file given to a stage-2 config: the one line tools/test.py prints, not a
    KeyError repr with literal \\n."""
    config, ckpt, images = model
    stage1 = Path(str(config).replace('s2.py', 's1.pth'))
    infer = run_tool(INFER, images[0], config, stage1, cwd=tmp_path, check=False)
    test = run_tool(ROOT / 'tools' / 'test.py', config, stage1, '--work-dir', tmp_path / 'w',
                    cwd=tmp_path, check=False)
    for proc in (infer, test):
        assert proc.returncode == 1 and 'Traceback' not in proc.stderr, proc.stderr[-3000:]
        assert '\\n' not in proc.stderr
    first = [ln for ln in infer.stderr.splitlines() if ln.startswith('CheckpointMismatchError')]
    assert first and first[0] in test.stderr, infer.stderr[-3000:]
    assert 'stage-1 checkpoint' in infer.stderr
