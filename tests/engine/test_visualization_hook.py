"""AnomalyVisualizationHook: titled PNGs (drawn by mmseg_uem.visualization) and .npz dumps,
written under tmp_path."""
import json
import os
from types import SimpleNamespace

import mmcv
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer
from mmseg.structures import SegDataSample
from mmseg.utils import get_palette

from mmseg_uem.engine.hooks import AnomalyVisualizationHook
from mmseg_uem.evaluation.io import MANIFEST, load_anomaly_map
from mmseg_uem.evaluation.operating_point import save_operating_point
from mmseg_uem.visualization import GAP, draw_anomaly_panels, title_height

H, W = 12, 16


def _sample(tmp_path, name='frame_0001') -> SegDataSample:
    """A sample of the image ``<tmp_path>/images/<name>.png`` (``name`` may hold folders)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, 0] = 200  # red in RGB
    img_path = str(tmp_path / 'images' / f'{name}.png')
    mmcv.imwrite(img[..., ::-1], img_path)  # mmcv writes BGR
    sample = SegDataSample(metainfo=dict(img_path=img_path, ori_shape=(H, W)))
    scores = torch.linspace(-3, 5, H * W).reshape(1, H, W)
    sample.pred_anomaly_score = PixelData(data=scores)
    pred = torch.zeros(1, H, W, dtype=torch.long)
    pred[:, :, W // 2:] = 13  # car
    sample.pred_sem_seg = PixelData(data=pred)
    label = torch.zeros(1, H, W, dtype=torch.long)
    label[:, -2:] = 1
    label[:, 0] = 255
    sample.gt_sem_seg = PixelData(data=label)
    return sample


def test_test_mode_writes_png_and_npz(tmp_path):
    sample = _sample(tmp_path)
    hook = AnomalyVisualizationHook(draw=True, show_dir=str(tmp_path / 'show'),
                                    out_dir=str(tmp_path / 'out'), cmap='viridis',
                                    score_range=(-3, 5))
    hook.after_test_iter(SimpleNamespace(iter=0), 0, {}, [sample])

    png = mmcv.imread(str(tmp_path / 'show' / 'frame_0001.png'), channel_order='rgb')
    # the hook draws exactly the shared drawing function's picture of the sample
    img = np.zeros((H, W, 3), np.uint8)
    img[:, :, 0] = 200
    expected = draw_anomaly_panels(img, sample.pred_anomaly_score.data[0].numpy(),
                                   pred=sample.pred_sem_seg.data[0].numpy(),
                                   gt=sample.gt_sem_seg.data[0].numpy(), cmap='viridis',
                                   score_range=(-3, 5))
    np.testing.assert_array_equal(png, expected)
    top = title_height(H)
    assert png.shape[0] == top + H
    np.testing.assert_array_equal(png[top, 0], [200, 0, 0])  # input panel
    assert (png[top:, W:W + GAP] == 255).all()  # gap
    seg = png[top:, W + GAP:2 * W + GAP]
    np.testing.assert_array_equal(seg[0, 0], get_palette('cityscapes')[0])
    np.testing.assert_array_equal(seg[0, -1], get_palette('cityscapes')[13])

    saved = load_anomaly_map(str(tmp_path / 'out' / 'frame_0001.npz'))
    assert saved['score'].dtype == np.float32 and saved['label'].dtype == np.uint8
    np.testing.assert_array_equal(saved['score'], sample.pred_anomaly_score.data[0].numpy())
    np.testing.assert_array_equal(saved['label'], sample.gt_sem_seg.data[0].numpy())
    assert saved['img_path'] == sample.img_path


def test_threshold_from_an_operating_point_file(tmp_path):
    point = save_operating_point(str(tmp_path / 'operating_point.json'), threshold=1.0,
                                 tpr=0.95, tpr_reached=0.96, fpr=0.1, positives=10,
                                 negatives=90)
    hook = AnomalyVisualizationHook(draw=True, threshold=point, draw_gt=False)
    assert hook.threshold == 1.0 and hook.threshold_name == 'TPR 95%'
    sample = _sample(tmp_path)
    canvas = hook.render(sample)
    without = AnomalyVisualizationHook(draw=True, draw_gt=False).render(sample)
    assert canvas.shape[0] == without.shape[0] and canvas.shape[1] > without.shape[1] + W


def test_val_mode_interval_and_no_dump(tmp_path):
    sample = _sample(tmp_path)
    hook = AnomalyVisualizationHook(draw=True, interval=2, show_dir=str(tmp_path / 'show'),
                                    out_dir=str(tmp_path / 'out'))
    runner = SimpleNamespace(iter=40)
    hook.after_val_iter(runner, 0, {}, [sample])  # batch 0: skipped by the interval
    hook.after_val_iter(runner, 1, {}, [sample])
    assert os.listdir(tmp_path / 'show' / 'val_iter_40') == ['frame_0001.png']
    assert not (tmp_path / 'out').exists()  # maps are dumped in test mode only
    hook.after_train_iter(runner, 1, {}, [sample])  # training: nothing happens


def test_without_show_dir_uses_the_visualizer(tmp_path):
    Visualizer.get_instance('anomaly_hook_test', vis_backends=[dict(type='LocalVisBackend')],
                            save_dir=str(tmp_path / 'vis'))
    hook = AnomalyVisualizationHook(draw=True)
    hook.after_test_iter(SimpleNamespace(iter=3), 0, {}, [_sample(tmp_path)])
    written = [f for _, _, files in os.walk(tmp_path / 'vis') for f in files]
    assert any(f.startswith('test_frame_0001') and f.endswith('.png') for f in written)


def test_one_stem_in_two_folders_keeps_both_and_lists_them(tmp_path):
    samples = [_sample(tmp_path, 'seqA/frame0'), _sample(tmp_path, 'seqB/frame0')]
    samples[1].pred_anomaly_score.data = -samples[1].pred_anomaly_score.data
    hook = AnomalyVisualizationHook(draw=True, show_dir=str(tmp_path / 'show'),
                                    out_dir=str(tmp_path / 'out'))
    class Dataset(list):  # two images, under <tmp_path>/images
        data_prefix = dict(img_path=str(tmp_path / 'images'))

    runner = SimpleNamespace(iter=0, test_dataloader=SimpleNamespace(dataset=Dataset([0, 0])))
    hook.before_test_epoch(runner)
    for i, sample in enumerate(samples):
        hook.after_test_iter(runner, i, {}, [sample])
    hook.after_test_epoch(runner, {})
    for seq, sample in zip(('seqA', 'seqB'), samples):
        assert (tmp_path / 'show' / seq / 'frame0.png').is_file()
        saved = load_anomaly_map(str(tmp_path / 'out' / seq / 'frame0.npz'))
        np.testing.assert_array_equal(saved['score'], sample.pred_anomaly_score.data[0].numpy())
    manifest = json.loads((tmp_path / 'out' / MANIFEST).read_text())
    assert manifest == dict(score=None, num_images=2,
                            maps={'seqA/frame0': samples[0].img_path,
                                  'seqB/frame0': samples[1].img_path})


def test_two_images_with_one_name_are_an_error(tmp_path):
    """Without a common image folder names are stems: the second frame0 is refused."""
    samples = [_sample(tmp_path, 'seqA/frame0'), _sample(tmp_path, 'seqB/frame0')]
    hook = AnomalyVisualizationHook(out_dir=str(tmp_path / 'out'))
    hook.after_test_iter(SimpleNamespace(iter=0), 0, {}, [samples[0]])
    with pytest.raises(ValueError, match=r"seqB/frame0.png would both be saved as 'frame0'"):
        hook.after_test_iter(SimpleNamespace(iter=0), 1, {}, [samples[1]])


def test_bad_arguments():
    with pytest.raises(ValueError):
        AnomalyVisualizationHook(draw=True, interval=0)
    with pytest.raises(KeyError):
        AnomalyVisualizationHook(draw=True, cmap='no_such_map')
    with pytest.raises(ValueError, match='low < high'):
        AnomalyVisualizationHook(draw=True, score_range=(5, -3))
    with pytest.raises(FileNotFoundError, match='missing.json'):
        AnomalyVisualizationHook(draw=True, threshold='missing.json')
    with pytest.warns(UserWarning, match='does nothing'):
        AnomalyVisualizationHook()


def test_picture_maps_and_manifest_name_the_score(tmp_path):
    """``tools/test.py --show-dir`` titles the heat map with the score the prediction holds
    (as tools/infer.py does); ``--out`` records it in every map and in maps.json."""
    img = np.full((64, 160, 3), 90, np.uint8)  # wide enough for the title to show
    img_path = str(tmp_path / 'images' / 'frame_0001.png')
    mmcv.imwrite(img, img_path)
    sample = SegDataSample(metainfo=dict(img_path=img_path, ori_shape=(64, 160)))
    sample.pred_anomaly_score = PixelData(data=torch.linspace(-3, 5, 64 * 160).reshape(1, 64, 160),
                                          metainfo=dict(score_mode='OoD'))
    sample.pred_sem_seg = PixelData(data=torch.zeros(1, 64, 160, dtype=torch.long))
    sample.gt_sem_seg = PixelData(data=torch.zeros(1, 64, 160, dtype=torch.long))
    hook = AnomalyVisualizationHook(draw=True, show_dir=str(tmp_path / 'show'),
                                    out_dir=str(tmp_path / 'out'))

    class Dataset(list):
        data_prefix = dict(img_path=str(tmp_path / 'images'))

    runner = SimpleNamespace(iter=0, test_dataloader=SimpleNamespace(dataset=Dataset([0])))
    hook.before_test_epoch(runner)
    hook.after_test_iter(runner, 0, {}, [sample])
    hook.after_test_epoch(runner, {})
    png = mmcv.imread(str(tmp_path / 'show' / 'frame_0001.png'), channel_order='rgb')
    img = mmcv.imread(sample.img_path, channel_order='rgb')
    arrays = dict(pred=sample.pred_sem_seg.data[0].numpy(), gt=sample.gt_sem_seg.data[0].numpy())
    scores = sample.pred_anomaly_score.data[0].numpy()
    np.testing.assert_array_equal(png, draw_anomaly_panels(img, scores, score_name='OoD',
                                                           **arrays))
    assert not np.array_equal(png, draw_anomaly_panels(img, scores, **arrays))  # titled
    assert load_anomaly_map(str(tmp_path / 'out' / 'frame_0001.npz'))['score_mode'] == 'OoD'
    assert json.loads((tmp_path / 'out' / MANIFEST).read_text())['score'] == 'OoD'
