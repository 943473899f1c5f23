"""tools/infer.py on a tiny two-stage model: an image, a folder and a video written by the
test (same frame count out), with --save-maps and an operating point threshold."""
import json
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
