"""The per-image files every prediction front end writes (array level)."""
import mmcv
import numpy as np
import pytest

from mmseg_uem.apis import (
    collect_images,
    input_name,
    output_names,
    skipped_note,
    write_prediction,
)
from mmseg_uem.evaluation.io import load_anomaly_map, output_name
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


def _touch(path, content=b''):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return str(path)


def test_one_stem_in_one_folder_is_refused_before_any_work(tmp_path):
    """``top.jpg`` and ``top.png`` would write the same vis/top.png: an error naming both."""
    paths = [_touch(tmp_path / 'top.jpg'), _touch(tmp_path / 'top.png')]
    images, skipped = collect_images(str(tmp_path))
    assert images == sorted(paths) and skipped == {}
    with pytest.raises(ValueError, match=r"top\.jpg and .*top\.png would both be saved as "
                       r"'top'.*rename one of them"):
        output_names(images, root=str(tmp_path))


def test_one_stem_in_two_folders_keeps_the_folders(tmp_path):
    """A list ``s1/a.jpg s2/a.jpg``: named below their deepest common folder, as
    tools/test.py --out names a dataset's images below its image folder."""
    a1, a2 = _touch(tmp_path / 's1' / 'a.jpg'), _touch(tmp_path / 's2' / 'a.jpg')
    assert output_names([a1, a2]) == ['s1/a', 's2/a']
    assert output_names([a1]) == ['a']  # one image: its stem, as before
    assert output_names([a1, a2]) == [output_name(a1, str(tmp_path)),
                                      output_name(a2, str(tmp_path))]
    assert output_names([np.zeros((2, 2, 3), np.uint8), a1]) == ['00000000', 'a']


def test_folder_reports_what_it_skips_and_reads_subfolders_when_asked(tmp_path):
    _touch(tmp_path / 'b.png')
    _touch(tmp_path / 'notes.txt')
    _touch(tmp_path / '._b.png')
    _touch(tmp_path / 'seq' / 'c.jpg')
    images, skipped = collect_images(str(tmp_path))
    assert images == [str(tmp_path / 'b.png')]
    assert skipped == {'subfolders': ['seq'], 'non-image files': ['notes.txt'],
                       'hidden files': ['._b.png']}
    note = skipped_note(str(tmp_path), skipped, num_images=1)
    assert note == (f'{tmp_path}: 1 images; skipped 1 subfolders (not read without '
                    '--recursive: seq); 1 non-image files (not ending in .jpg/.jpeg/.png/'
                    '.bmp/.webp/.tif/.tiff: notes.txt); 1 hidden files (names starting with '
                    '.: ._b.png)')
    images, skipped = collect_images(str(tmp_path), recursive=True)
    assert images == [str(tmp_path / 'b.png'), str(tmp_path / 'seq' / 'c.jpg')]
    assert 'subfolders' not in skipped
    assert output_names(images, root=str(tmp_path)) == ['b', 'seq/c']
    (tmp_path / 'b.png').unlink()
    with pytest.raises(FileNotFoundError, match=r'no image files .* \(its 1 subfolders are '
                       r'read with --recursive\)'):
        collect_images(str(tmp_path))
