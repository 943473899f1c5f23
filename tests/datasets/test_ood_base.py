"""LoadOoDAnnotations: raw values read unchanged, validated, mapped to {0, 1, 255}."""
import numpy as np
import pytest
from PIL import Image

from mmseg_uem.datasets import LoadOoDAnnotations
from mmseg_uem.datasets.ood_base import list_files


def _results(path, shape=(4, 6), **extra):
    return dict(seg_map_path=str(path), img_path='frame.jpg', ori_shape=shape, **extra)


def _write(tmp_path, array, name='label.png'):
    path = tmp_path / name
    Image.fromarray(np.asarray(array, np.uint8)).save(path)
    return path


def test_maps_declared_raw_values(tmp_path):
    raw = np.array([[0, 2, 2, 0, 0, 0]] * 4)
    path = _write(tmp_path, raw)
    out = LoadOoDAnnotations()(_results(path, ood_raw_values=(0, 2), label_map={2: 1}))
    np.testing.assert_array_equal(out['gt_seg_map'], raw // 2)
    assert out['gt_seg_map'].dtype == np.uint8 and out['seg_fields'] == ['gt_seg_map']
    # Arguments override what the dataset declared.
    out = LoadOoDAnnotations(raw_values=(0, 2, 255), label_map={2: 1})(
        _results(path, ood_raw_values=(0, 1)))
    assert set(np.unique(out['gt_seg_map'])) == {0, 1}


def test_grey_rgb_label_is_read_but_colour_picture_is_refused(tmp_path):
    grey = np.stack([np.eye(4, 6) * 255] * 3, -1)
    out = LoadOoDAnnotations(raw_values=(0, 1, 255))(_results(_write(tmp_path, grey)))
    assert out['gt_seg_map'].shape == (4, 6)
    colour = grey.copy()
    colour[0, 0] = (255, 0, 0)
    with pytest.raises(ValueError, match='colour image'):
        LoadOoDAnnotations(raw_values=(0, 1, 255))(_results(_write(tmp_path, colour, 'c.png')))


def test_errors_name_the_file(tmp_path):
    path = _write(tmp_path, np.full((4, 6), 7))
    with pytest.raises(ValueError, match=r'label\.png holds values \[7\]'):
        LoadOoDAnnotations(raw_values=(0, 1, 255))(_results(path))
    with pytest.raises(ValueError, match=r'label\.png is 4x6 but image frame\.jpg is 5x6'):
        LoadOoDAnnotations(raw_values=(7,), label_map={7: 1})(_results(path, shape=(5, 6)))
    with pytest.raises(ValueError, match='not into'):
        LoadOoDAnnotations(raw_values=(7,))(_results(path))
    with pytest.raises(ValueError, match='no raw label values'):
        LoadOoDAnnotations()(_results(path))
    with pytest.raises(ValueError, match='no public label'):
        LoadOoDAnnotations()(dict(seg_map_path=None, img_path='zebra0000.jpg', ori_shape=(4, 6)))
    with pytest.raises(KeyError, match='LoadImageFromFile'):
        LoadOoDAnnotations(raw_values=(7,))(dict(seg_map_path=str(path)))
    assert 'raw_values=(0, 2)' in repr(LoadOoDAnnotations(raw_values=[0, 2]))


def test_list_files_names_missing_and_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        list_files(str(tmp_path / 'nope'), '.png')
    (tmp_path / 'a.txt').write_text('')
    with pytest.raises(FileNotFoundError, match=rf'no \*\.png files in folder {tmp_path}'):
        list_files(str(tmp_path), '.png')


def test_inference_inputs_pass_without_a_label():
    """mmseg's inference_model / the inferencers give no seg_map_path key: nothing to load
    (a dataset frame always has the key; None there stays an error, tested above)."""
    results = dict(img_path='frame.jpg', ori_shape=(4, 6))
    out = LoadOoDAnnotations()(dict(results))
    assert 'gt_seg_map' not in out and out['img_path'] == 'frame.jpg'
