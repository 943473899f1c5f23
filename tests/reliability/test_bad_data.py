"""Bad data, end to end: each case runs the real ``tools/train.py`` / ``tools/test.py`` /
``tools/dataset_converters/coco_outliers.py`` ``main()`` (in this process, to save the
start-up time of a subprocess) and checks that the error names the offending file.

The unit-level checks behind them are tested in tests/datasets/; here the whole path is
used: the tool's data pre-flight (``mmseg_uem.apis.preflight.check_dataset_files``), the dataset,
the pipeline, the Runner and the model.
"""
import importlib.util
import json
import re
import shutil
import sys

import numpy as np
import pytest
from PIL import Image
from rel_utils import ROOT, make_data, make_stage1_checkpoint, write_config

pytestmark = pytest.mark.usefixtures('fast_runner')  # Runners built in this process


def _tool(name: str):
    """Import tools/<name>.py as a module (its ``main()`` reads ``sys.argv``)."""
    path = ROOT / 'tools' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f'uem_tool_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def run_main(monkeypatch, tmp_path):
    """run_main('train', CONFIG, ...): ``tools/<tool>.py main()`` with that argv."""
    monkeypatch.setenv('LOCAL_RANK', '0')
    monkeypatch.chdir(tmp_path)

    def run(tool, *args):
        module = _tool(tool)
        monkeypatch.setattr(sys, 'argv', [f'{tool}.py', *map(str, args)])
        return module.main()

    return run


def _labels(root):
    return sorted((root / 'cityscapes' / 'gtFine' / 'train').rglob('*_labelTrainIds.png'))


def _images(root):
    return sorted((root / 'cityscapes' / 'leftImg8bit' / 'train').rglob('*.png'))


def _edit_png(path, fn):
    Image.fromarray(fn(np.array(Image.open(path)))).save(path)
    return path


def _overwrite(path, data: bytes):
    path.write_bytes(data)
    return path


def _delete(path):
    path.unlink()
    return path


# ------------------------------------------------------------- training set (Cityscapes)

def _crop_label(a):
    return a[:-8, :-8]  # 56x120 vs its 64x128 image


def _grow_label(a):
    return np.pad(a, ((0, 8), (0, 16)), mode='edge')  # 72x144: same aspect as the image


TRAIN_CASES = {
    # name: (corrupt(data root) -> offending file, exception, message pattern)
    'missing label': (lambda r: _delete(_labels(r)[1]), FileNotFoundError,
                      'label of image .* is missing'),
    'smaller label': (lambda r: _edit_png(_labels(r)[0], _crop_label), ValueError,
                      'is 56x120 but its image .* is 64x128'),
    'larger label, same aspect': (lambda r: _edit_png(_labels(r)[0], _grow_label), ValueError,
                                  'is 72x144 but its image .* is 64x128'),
    'colour label': (lambda r: _edit_png(_labels(r)[1], lambda a: np.stack([a, a, a * 0], -1)),
                     ValueError, 'is a RGB colour image'),
    'not an image': (lambda r: _overwrite(_images(r)[1], b'GIF89a nothing'), ValueError,
                     'is not a readable image'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', sorted(TRAIN_CASES))
def test_bad_training_files_fail_before_the_runner_naming_them(tmp_path, run_main, case):
    corrupt, error, pattern = TRAIN_CASES[case]
    data = make_data(tmp_path / 'data', num_train=2)
    victim = corrupt(tmp_path / 'data')
    cfg = write_config(tmp_path / ('bad_' + ''.join(c for c in case if c.isalnum()) + '.py'), data,
                       max_iters=1)
    with pytest.raises(error, match=pattern) as err:
        run_main('train', cfg, '--work-dir', tmp_path / 'work')
    assert str(victim) in str(err.value)
    assert not (tmp_path / 'work').exists()  # nothing was built or written


@pytest.mark.slow
def test_empty_training_folder_is_named(tmp_path, run_main):
    data = make_data(tmp_path / 'data', num_train=2)
    folder = tmp_path / 'data' / 'cityscapes' / 'leftImg8bit' / 'train'
    shutil.rmtree(folder)
    folder.mkdir()
    cfg = write_config(tmp_path / 'empty.py', data, max_iters=1)
    with pytest.raises(FileNotFoundError, match=rf'found no images \(\*_leftImg8bit.png\) under '
                                                 rf'{re.escape(str(folder))}'):
        run_main('train', cfg, '--work-dir', tmp_path / 'work')


@pytest.mark.slow
def test_truncated_training_image_fails_at_its_batch_naming_it(tmp_path, run_main):
    """The header is intact, so the pre-flight passes; mmcv's LoadImageFromFile fails on the
    first batch that holds it (an ``AssertionError`` naming the file)."""
    data = make_data(tmp_path / 'data', num_train=2)
    victim = _images(tmp_path / 'data')[0]
    victim.write_bytes(victim.read_bytes()[:victim.stat().st_size // 3])
    cfg = write_config(tmp_path / 'truncated.py', data, max_iters=1)
    with pytest.raises(AssertionError, match=f'failed to load image: {re.escape(str(victim))}'):
        run_main('train', cfg, '--work-dir', tmp_path / 'work')


@pytest.mark.slow
def test_label_values_outside_the_training_set_are_named(tmp_path, run_main):
    """A labelIds file (values up to 33) where trainIds (0..18, 255) are expected."""
    data = make_data(tmp_path / 'data', num_train=2)
    for path in _labels(tmp_path / 'data'):
        _edit_png(path, lambda a: np.where(a == 255, 255, a + 20).astype(np.uint8))
    cfg = write_config(tmp_path / 'values.py', data, max_iters=1)
    with pytest.raises(ValueError, match=r'_labelTrainIds\.png \(image .*\) holds values '
                                         r'\[.*\] outside the training label set'):
        run_main('train', cfg, '--work-dir', tmp_path / 'work')


# ------------------------------------------------------------------- outlier bank (COCO)

@pytest.mark.slow
def test_panoptic_json_is_refused_by_the_bank_tool(tmp_path, monkeypatch):
    coco = tmp_path / 'coco' / 'annotations'
    coco.mkdir(parents=True)
    panoptic = dict(images=[dict(id=1, file_name='a.jpg', height=480, width=640)],
                    categories=[dict(id=1, name='dog')],
                    annotations=[dict(image_id=1, file_name='a.png', segments_info=[])])
    (coco / 'instances_train2017.json').write_text(json.dumps(panoptic))
    spec = importlib.util.spec_from_file_location(
        'uem_tool_coco', ROOT / 'tools' / 'dataset_converters' / 'coco_outliers.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    monkeypatch.setattr(sys, 'argv', ['coco_outliers.py', str(tmp_path / 'coco')])
    with pytest.raises(ValueError, match=r'instances_train2017\.json is a COCO panoptic json'):
        tool.main()


@pytest.mark.slow
@pytest.mark.parametrize('index', [[], [dict(image='x.jpg', mask='x.png', bbox=[0, 0, 0, 0])],
                                   None])
def test_unusable_outlier_bank_stops_stage2_before_training(tmp_path, run_main, index):
    data = make_data(tmp_path / 'data', num_train=2, coco=True)
    index_file = tmp_path / 'data' / 'coco' / 'annotations' / 'ood_seg_train2017_index.json'
    if index is None:
        index_file.unlink()
    else:
        index_file.write_text(json.dumps(index))
    stage1 = make_stage1_checkpoint(write_config(tmp_path / 's1.py', data),
                                    tmp_path / 'stage1.pth')
    cfg = write_config(tmp_path / 'bank.py', data, stage=2, stage1=str(stage1), max_iters=1)
    error, pattern = ((FileNotFoundError, 'build it with tools/dataset_converters') if index is None
                      else (ValueError, 'has no usable object'))
    with pytest.raises(error, match=pattern) as err:
        run_main('train', cfg, '--work-dir', tmp_path / 'work')
    assert str(index_file) in str(err.value)
    assert not (tmp_path / 'work').exists()


# ------------------------------------------------------------ OoD test set (RoadAnomaly)

def _ra_frames(root):
    return sorted((root / 'RoadAnomaly_jpg' / 'frames').glob('*.jpg'))


def _ra_label(frame):
    return frame.with_suffix('.labels') / 'labels_semantic.png'


def _empty_frames(r):
    shutil.rmtree(r / 'RoadAnomaly_jpg' / 'frames')
    (r / 'RoadAnomaly_jpg' / 'frames').mkdir()
    return r / 'RoadAnomaly_jpg' / 'frames'


def _truncate(path):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])
    return path


TEST_CASES = {
    'missing label': (lambda r: _delete(_ra_label(_ra_frames(r)[0])), FileNotFoundError,
                      'label .* of image .* is missing'),
    'label size': (lambda r: _edit_png(_ra_label(_ra_frames(r)[1]), lambda a: a[:-2]),
                   ValueError, 'is 70x128 but its image'),
    'label values': (lambda r: _edit_png(_ra_label(_ra_frames(r)[1]), lambda a: a // 2),
                     ValueError, r'holds values \[1\] outside the declared raw set \[0, 2\]'),
    'truncated image': (lambda r: _truncate(_ra_frames(r)[2]), AssertionError,
                        'failed to load image'),
    'empty folder': (_empty_frames, FileNotFoundError, r'no \*\.jpg files in folder'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', sorted(TEST_CASES))
def test_bad_ood_test_files_are_named_by_tools_test(tmp_path, run_main, case):
    corrupt, error, pattern = TEST_CASES[case]
    data = make_data(tmp_path / 'data', num_train=1, road_anomaly=3)
    victim = corrupt(tmp_path / 'data')
    cfg = write_config(tmp_path / ('test_' + ''.join(c for c in case if c.isalnum()) + '.py'), data)
    ckpt = make_stage1_checkpoint(cfg, tmp_path / 'stage1.pth')
    with pytest.raises(error, match=pattern) as err:
        run_main('test', cfg, ckpt, '--work-dir', tmp_path / 'work')
    assert str(victim) in str(err.value)


# ------------------------------------------------------------------- metric footguns

_CITYSCAPES_VAL = [
    'test_dataloader.dataset.type=CityscapesDataset',
    'test_dataloader.dataset.data_prefix.img_path=leftImg8bit/val',
    'test_dataloader.dataset.data_prefix.seg_map_path=gtFine/val',
    'test_dataloader.dataset.pipeline.1.type=LoadAnnotations',
]


@pytest.mark.slow
def test_miou_on_ood_labels_or_label_ids_is_refused(tmp_path, run_main):
    """--eval mIoU on an OoD set ({inlier, anomaly} labels) and on Cityscapes labelIds:
    both refused before scoring, saying why; on trainIds it is scored."""
    data = make_data(tmp_path / 'data', num_train=1, road_anomaly=2)
    cfg = write_config(tmp_path / 'test_miou.py', data)
    ckpt = make_stage1_checkpoint(cfg, tmp_path / 'stage1.pth')
    with pytest.raises(ValueError, match=r'IoUMetric \(mIoU\) on RoadAnomalyDataset, an OoD '
                                         r'test set whose labels are \{0 inlier, 1 anomaly'):
        run_main('test', cfg, ckpt, '--eval', 'AP', 'mIoU', '--work-dir', tmp_path / 'w1')

    val = [f'test_dataloader.dataset.data_root={data["cityscapes"]}', *_CITYSCAPES_VAL]
    run_main('test', cfg, ckpt, '--eval', 'mIoU', '--work-dir', tmp_path / 'w2',
             '--cfg-options', *val)
    assert [p for p in (tmp_path / 'w2').rglob('*.json') if 'mIoU' in p.read_text()]

    labels = sorted((tmp_path / 'data' / 'cityscapes' / 'gtFine' / 'val').rglob(
        '*_labelTrainIds.png'))
    for path in labels:  # labelIds-like values: 7 road, 11 building, 23 sky, ...
        _edit_png(path, lambda a: np.where(a == 255, 0, a + 7).astype(np.uint8))
    with pytest.raises(ValueError, match=r'holds values \[\d+.*\] outside the 19 classes of '
                                         r'CityscapesDataset .* labelIds instead of') as err:
        run_main('test', cfg, ckpt, '--eval', 'mIoU', '--work-dir', tmp_path / 'w3',
                 '--cfg-options', *val)
    assert str(labels[0]) in str(err.value)


@pytest.mark.slow
def test_amp_without_a_gpu_says_what_to_do(tmp_path, run_main):
    data = make_data(tmp_path / 'data', num_train=1)
    cfg = write_config(tmp_path / 'amp.py', data, max_iters=1)
    with pytest.raises(RuntimeError, match=r'mixed precision \(--amp .*\) needs a CUDA.*drop '
                                           r'--amp'):
        run_main('train', cfg, '--amp', '--work-dir', tmp_path / 'work')
    assert not (tmp_path / 'work').exists()
