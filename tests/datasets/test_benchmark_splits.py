"""The SMIYC obstacle-track subsets and LostAndFound test / testNoKnown select exactly the
benchmark's frames, from miniature trees in the real layouts and file names."""
import os
import shutil

import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from PIL import Image

from mmseg_uem.datasets import LoadOoDAnnotations, LostAndFoundDataset, SMIYCDataset
from mmseg_uem.testing import make_smiyc_obstacle


def _stems(dataset):
    return [os.path.basename(d['img_path']).rsplit('.', 1)[0] for d in dataset.load_data_list()]


def test_obstacle_track_subsets_by_scene(tmp_path):
    root = str(tmp_path / 'dataset_ObstacleTrack')
    make_smiyc_obstacle(root, num_val=2, num_test=6, size=(24, 48), seed=0)

    def subset(split):
        return _stems(SMIYCDataset(track='obstacle', split=split, data_root=root,
                                   pipeline=[], lazy_init=False))
    test = ['curvy-street_pig_frisbee_1', 'gravel_boot_2', 'one-way-street_bagB_2']
    snow = ['snowstorm1_00_00_51.868', 'snowstorm2_00_01_38.181']
    assert subset('test') == test
    assert subset('night') == ['driveway_carton_bowl_3']
    assert subset('snowstorm') == snow
    assert subset('noNight') == sorted(test + snow)
    assert subset('validation') == ['validation_1', 'validation_2']
    assert len(subset('all')) == 8
    shutil.copy(os.path.join(root, 'images', 'gravel_boot_2.webp'),
                os.path.join(root, 'images', 'parking_lot_1.webp'))
    with pytest.raises(ValueError, match=r"scenes \['parking'\] that are not in the benchmark"):
        subset('test')
    with pytest.raises(ValueError, match='split of the anomaly track'):
        SMIYCDataset(track='anomaly', split='night', data_root=root)


#: (scene folder, frames) of a miniature LostAndFound test split with 1,203 frames
_SCENES = [('01_Hanns_Klemm_Str_45', 200), ('02_Hanns_Klemm_Str_44', 150),
           ('04_Maurener_Weg_8', 200), ('05_Schafgasse_1', 150), ('07_Festplatz_Flugfeld', 150),
           ('10_Schlossberg_9', 120), ('13_Elly_Beinhorn_Str', 133),
           ('15_Rechbergstr_Deckenpfronn', 100)]
_INVALID = [17, 37, 55, 72, 91, 110, 129, 153, 174, 197, 218, 353, 490, 618, 686, 792, 793]


def _laf_tree(root, scenes=_SCENES):
    img = root / 'img.png'
    Image.new('RGB', (3, 2)).save(img)
    label = root / 'label.png'
    Image.fromarray(np.array([[0, 1, 2], [200, 201, 255]], np.uint8)).save(label)
    fids = []
    for scene, count in scenes:
        for i in range(count):
            fid = f'{scene}_{i // 10:06d}_{(i % 10) * 10 + 30:06d}'  # seq, frame
            fids.append(fid)
            for kind, src, suffix in (('leftImg8bit', img, '_leftImg8bit.png'),
                                      ('gtCoarse', label, '_gtCoarse_labelIds.png')):
                folder = root / 'laf' / kind / 'test' / scene
                folder.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, folder / (fid + suffix))
    return str(root / 'laf'), sorted(fids)


@pytest.fixture(scope='module')
def laf_test(tmp_path_factory):
    """A complete miniature LostAndFound test split: (root, sorted frame ids)."""
    return _laf_tree(tmp_path_factory.mktemp('laf_test'))


@pytest.fixture(scope='module')
def obstacle_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('smiyc') / 'dataset_ObstacleTrack')
    make_smiyc_obstacle(root, num_val=2, num_test=6, size=(24, 48), seed=0)
    return root


def test_lost_and_found_test_and_no_known(laf_test):
    root, fids = laf_test
    assert len(fids) == 1203
    everything = LostAndFoundDataset(data_root=root, pipeline=[])
    assert _stems(everything) == [f + '_leftImg8bit' for f in fids]
    valid = [f for i, f in enumerate(fids) if i not in set(_INVALID)]
    no_known = [f for f in valid if not (
        f.startswith('15_Rechbergstr_Deckenpfronn') or f.startswith('10_Schlossberg_9_000004')
        or f.startswith('01_Hanns_Klemm_Str_45_000006')
        or f.startswith('01_Hanns_Klemm_Str_45_000007'))]
    assert len(valid) == 1186 and len(no_known) < len(valid)
    got = LostAndFoundDataset(subset='valid', data_root=root, pipeline=[])
    assert _stems(got) == [f + '_leftImg8bit' for f in valid]
    got = LostAndFoundDataset(subset='noKnown', data_root=root, pipeline=[])
    assert _stems(got) == [f + '_leftImg8bit' for f in no_known]
    info = got.load_data_list()[0]
    assert info['seg_map_path'].endswith(
        f'gtCoarse/test/01_Hanns_Klemm_Str_45/{no_known[0]}_gtCoarse_labelIds.png')
    # the benchmark's labels: 0 void, 1 road (inlier), 2..200 anomaly, anything else void
    sample = LoadOoDAnnotations()(LoadImageFromFile()(dict(info)))
    assert sample['gt_seg_map'].tolist() == [[255, 0, 1], [1, 255, 255]]


def test_lost_and_found_subsets_need_the_whole_split(tmp_path):
    root, fids = _laf_tree(tmp_path, scenes=[('04_Maurener_Weg_8', 30)])
    assert len(LostAndFoundDataset(data_root=root, pipeline=[])) == 30  # 'all': a warning
    with pytest.raises(ValueError, match='complete test split of 1203 frames, but 30'):
        LostAndFoundDataset(subset='noKnown', data_root=root, pipeline=[])
    with pytest.raises(ValueError, match='subset'):
        LostAndFoundDataset(split='train', subset='noKnown', data_root=root)
    bad = tmp_path / 'laf' / 'leftImg8bit' / 'test' / '04_Maurener_Weg_8' / 'x_leftImg8bit.png'
    shutil.copyfile(tmp_path / 'img.png', bad)
    with pytest.raises(ValueError, match='x_leftImg8bit.png is not named'):
        LostAndFoundDataset(data_root=root, pipeline=[])


@pytest.mark.parametrize('variant', ['dinov2_gg', 'dinov2_dd', 'dinov3_vitb16_gg'])
def test_split_configs_select_the_subsets(variant, laf_test, obstacle_root):
    """The test configs of a variant, their data_root swapped for the miniature trees."""
    from pathlib import Path

    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS

    configs = Path(__file__).resolve().parents[2] / 'configs' / 'uem'
    init_default_scope('mmseg')
    root, fids = laf_test
    no_known = LostAndFoundDataset(subset='noKnown', data_root=root, pipeline=[])
    for name, subset, frames in (('laf', 'all', fids), ('laf-no-known', 'noKnown',
                                                        [s[:-len('_leftImg8bit')]
                                                         for s in _stems(no_known)])):
        cfg = Config.fromfile(str(configs / f'{variant}_test-{name}.py'))
        dataset_cfg = cfg.test_dataloader.dataset
        assert (dataset_cfg.type, dataset_cfg.split, dataset_cfg.subset) == (
            'LostAndFoundDataset', 'test', subset)
        assert cfg.test_evaluator.min_pred_size == 50
        dataset_cfg.data_root = root
        dataset = DATASETS.build(dataset_cfg)
        assert _stems(dataset) == [f + '_leftImg8bit' for f in frames]
        sample = dataset[0]
        assert set(np.unique(sample['data_samples'].gt_sem_seg.data.numpy())) == {0, 1, 255}
    scenes = dict(night=['driveway_carton_bowl_3'],
                  snowstorm=['snowstorm1_00_00_51.868', 'snowstorm2_00_01_38.181'])
    scenes['noNight'] = sorted(scenes['snowstorm'] + ['curvy-street_pig_frisbee_1',
                                                      'gravel_boot_2', 'one-way-street_bagB_2'])
    for split, frames in scenes.items():
        low = {'noNight': 'no-night'}.get(split, split)
        cfg = Config.fromfile(str(configs / f'{variant}_test-smiyc-obstacle-{low}.py'))
        dataset_cfg = cfg.test_dataloader.dataset
        assert (dataset_cfg.track, dataset_cfg.split) == ('obstacle', split)
        dataset_cfg.data_root = obstacle_root
        assert _stems(DATASETS.build(dataset_cfg)) == frames
