"""The per-image files every prediction front end writes (array level)."""
import mmcv
import numpy as np

from mmseg_uem.apis import input_name, write_prediction
from mmseg_uem.evaluation.io import load_anomaly_map
from mmseg_uem.visualization import draw_anomaly_panels


def test_write_prediction_files(tmp_path):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    score = rng.normal(size=(20, 30)).astype(np.float32)
    sem_seg = rng.integers(0, 19, (20, 30))
    paths = write_prediction(str(tmp_path), 'frame', image, anomaly_score=score,
                             sem_seg=sem_seg, img_path='a/frame.jpg', threshold=0.5)
    assert paths['vis'] == str(tmp_path / 'vis' / 'frame.png')
    picture = mmcv.imread(paths['vis'], channel_order='rgb')
    np.testing.assert_array_equal(
        picture, draw_anomaly_panels(image, score, pred=sem_seg, threshold=0.5))
    ids = mmcv.imread(str(tmp_path / 'pred' / 'frame_pred.png'), flag='unchanged')
    np.testing.assert_array_equal(ids, sem_seg)
    saved = load_anomaly_map(str(tmp_path / 'pred' / 'frame.npz'))
    np.testing.assert_array_equal(saved['score'], score)
    assert saved['img_path'] == 'a/frame.jpg'
    only_maps = write_prediction(str(tmp_path / 'b'), 'x', image, anomaly_score=score,
                                 draw=False)
    assert set(only_maps) == {'anomaly_score'}


def test_output_names():
    assert input_name('dir/seq/frame_01.jpg', 7) == 'frame_01'
    assert input_name(np.zeros((2, 2, 3), np.uint8), 7) == '00000007'
    assert input_name('', 3) == '00000003'
