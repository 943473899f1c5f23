"""UEMInferencer and mmseg.apis.init_model / inference_model on a tiny two-stage model:
single image, array, folder, batch; the maps equal tools/test.py --out; the pictures."""
import json
import sys
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch

# the tiny two-stage configs and checkpoints of the reliability suite
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'reliability'))
from rel_utils import (  # noqa: E402
    ROOT,
    make_data,
    make_stage1_checkpoint,
    run_tool,
    write_config,
)

from mmseg_uem.apis import UEMInferencer  # noqa: E402
from mmseg_uem.evaluation.io import load_anomaly_map  # noqa: E402
from mmseg_uem.utils.checkpoint import CheckpointMismatchError  # noqa: E402
from mmseg_uem.visualization import draw_anomaly_panels, title_height  # noqa: E402

FRAMES = 3


@pytest.fixture(scope='module')
def model_files(tmp_path_factory):
    """(stage-2 config, stage-2 checkpoint, stage-1 checkpoint, RoadAnomaly image paths)."""
    tmp = tmp_path_factory.mktemp('inferencer')
    data = make_data(tmp / 'data', road_anomaly=FRAMES)
    data['coco'] = str(tmp / 'unused_coco')  # only the (unused) training pipeline names it
    stage1_cfg = write_config(tmp / 'stage1.py', data)
    stage1 = make_stage1_checkpoint(stage1_cfg, tmp / 'stage1.pth')
    config = write_config(tmp / 'stage2.py', data, stage=2, stage1=str(stage1))
    ckpt = make_stage1_checkpoint(config, tmp / 'stage2.pth')  # init_weights loads stage 1
    images = sorted(Path(data['road_anomaly'], 'frames').glob('*.jpg'))
    assert len(images) == FRAMES
    return config, ckpt, stage1, [str(p) for p in images]


@pytest.fixture(scope='module')
def inferencer(model_files):
    torch.set_num_threads(1)
    config, ckpt, _, _ = model_files
    return UEMInferencer(str(config), weights=str(ckpt), device='cpu')


def test_single_image_array_folder_and_batch(inferencer, model_files):
    _, _, _, images = model_files
    height, width = mmcv.imread(images[0]).shape[:2]
    one = inferencer(images[0])['predictions']
    assert one['anomaly_score'].shape == (height, width)
    assert one['anomaly_score'].dtype == np.float32
    assert one['sem_seg'].shape == (height, width)
    assert np.isfinite(one['anomaly_score']).all()
    # an array (BGR, as OpenCV reads it) gives the same maps as its file
    array = inferencer(mmcv.imread(images[0]))['predictions']
    np.testing.assert_allclose(array['anomaly_score'], one['anomaly_score'], atol=1e-6)
    np.testing.assert_array_equal(array['sem_seg'], one['sem_seg'])
    # a folder: every image, in name order; batch 2 equals batch 1
    folder = str(Path(images[0]).parent)
    single = inferencer(folder)['predictions']
    batched = inferencer(folder, batch_size=2)['predictions']
    assert len(single) == len(batched) == FRAMES
    np.testing.assert_allclose(single[0]['anomaly_score'], one['anomaly_score'], atol=1e-6)
    for a, b in zip(single, batched):  # batched matmuls sum in another order
        np.testing.assert_allclose(a['anomaly_score'], b['anomaly_score'], atol=1e-4)
    samples = inferencer(images[:2], return_datasamples=True)
    assert len(samples) == 2 and 'pred_anomaly_score' in samples[0]


@pytest.mark.slow
def test_maps_equal_tools_test_out(inferencer, model_files, tmp_path):
    config, ckpt, _, images = model_files
    run_tool(ROOT / 'tools' / 'test.py', config, ckpt, '--out', tmp_path / 'maps',
             '--work-dir', tmp_path / 'work', cwd=tmp_path)
    predictions = inferencer(images)['predictions']
    for image, pred in zip(images, predictions):
        saved = load_anomaly_map(str(tmp_path / 'maps' / (Path(image).stem + '.npz')))
        np.testing.assert_array_equal(saved['score'], pred['anomaly_score'])
    # FPR95 was computed: the operating point lies next to the maps
    record = json.loads((tmp_path / 'maps' / 'operating_point.json').read_text())
    assert np.isfinite(record['threshold']) and record['score'] == 'LLR'


def test_out_dir_pictures_and_maps(inferencer, model_files, tmp_path):
    _, _, _, images = model_files
    result = inferencer(images[:2], out_dir=str(tmp_path), return_vis=True)
    for image, pred, vis in zip(images, result['predictions'], result['visualization']):
        stem = Path(image).stem
        png = mmcv.imread(str(tmp_path / 'vis' / f'{stem}.png'), channel_order='rgb')
        height, width = pred['anomaly_score'].shape
        assert png.shape[0] == title_height(height) + height and png.shape[1] > 3 * width
        expected = draw_anomaly_panels(mmcv.imread(image, channel_order='rgb'),
                                       pred['anomaly_score'], pred=pred['sem_seg'],
                                       score_name='LLR')
        np.testing.assert_array_equal(png, expected)
        np.testing.assert_array_equal(vis, expected)
        saved = load_anomaly_map(str(tmp_path / 'pred' / f'{stem}.npz'))
        np.testing.assert_array_equal(saved['score'], pred['anomaly_score'])
        ids = mmcv.imread(str(tmp_path / 'pred' / f'{stem}_pred.png'), flag='unchanged')
        np.testing.assert_array_equal(ids, pred['sem_seg'])


def test_threshold_adds_the_flagged_panel(inferencer, model_files):
    _, _, _, images = model_files
    score = inferencer(images[0])['predictions']['anomaly_score']
    plain = inferencer(images[0], return_vis=True)['visualization']
    flagged = inferencer(images[0], return_vis=True,
                         threshold=float(np.median(score)))['visualization']
    assert flagged.shape[1] > plain.shape[1] + score.shape[1]


def test_errors_name_the_input(inferencer, model_files, tmp_path):
    config, _, stage1, _ = model_files
    with pytest.raises(FileNotFoundError, match='nowhere.jpg'):
        inferencer(str(tmp_path / 'nowhere.jpg'))
    broken = tmp_path / 'broken.jpg'
    broken.write_text('not an image')
    with pytest.raises(ValueError, match='broken.jpg is not a readable image'):
        inferencer(str(broken))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(FileNotFoundError, match='no image files'):
        inferencer(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match='uint8'):
        inferencer(np.zeros((8, 8, 3), np.float32))
    with pytest.raises(CheckpointMismatchError, match=r'stage1.pth does not fit the model of '
                       r'.*\n  missing keys \(\d+\): auxiliary_head\.'):
        UEMInferencer(str(config), weights=str(stage1), device='cpu')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        UEMInferencer(str(config), weights=str(tmp_path / 'missing.pth'), device='cpu')


def test_init_model_and_inference_model(model_files):
    from mmseg.apis import inference_model, init_model

    config, ckpt, _, images = model_files
    model = init_model(str(config), str(ckpt), device='cpu')
    sample = inference_model(model, images[0])
    height, width = mmcv.imread(images[0]).shape[:2]
    assert sample.pred_anomaly_score.data.shape == (1, height, width)
    assert 'gt_sem_seg' not in sample  # nothing to load for an inference input
    both = inference_model(model, [mmcv.imread(p) for p in images[:2]])
    torch.testing.assert_close(both[0].pred_anomaly_score.data, sample.pred_anomaly_score.data,
                               atol=1e-4, rtol=0)  # a batch of 2: another summation order


def test_one_stem_in_two_folders_writes_two_outputs(inferencer, model_files, tmp_path):
    """A list ``s1/a.jpg s2/a.jpg`` wrote one vis/a.png and said "2 images": the names keep
    the folders below the inputs' common folder; clashing names are refused before any
    image is read."""
    import shutil

    _, _, _, images = model_files
    for sub, image in (('s1', images[0]), ('s2', images[1])):
        (tmp_path / 'in' / sub).mkdir(parents=True)
        shutil.copy(image, tmp_path / 'in' / sub / 'a.jpg')
    inputs = [str(tmp_path / 'in' / s / 'a.jpg') for s in ('s1', 's2')]
    result = inferencer(inputs, out_dir=str(tmp_path / 'out'))['predictions']
    for sub, pred in zip(('s1', 's2'), result):
        assert (tmp_path / 'out' / 'vis' / sub / 'a.png').is_file()
        saved = load_anomaly_map(str(tmp_path / 'out' / 'pred' / sub / 'a.npz'))
        np.testing.assert_array_equal(saved['score'], pred['anomaly_score'])
        assert saved['score_mode'] == 'LLR'
    shutil.copy(images[0], tmp_path / 'in' / 's1' / 'a.png')
    with pytest.raises(ValueError, match=r"s1/a.jpg and .*s1/a.png would both be saved as 'a'"):
        inferencer([inputs[0], str(tmp_path / 'in' / 's1' / 'a.png')],
                   out_dir=str(tmp_path / 'clash'))
    assert not (tmp_path / 'clash').exists()
