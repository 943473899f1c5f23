"""The training-batch guards behind the decode heads (mmseg_uem/models/utils/checks.py), on
hand-made batches: what the data pre-flight of tools/train.py cannot see (a pipeline that
changes a label's size or channels; values) and the iteration in the non-finite error."""
import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_uem.models.utils.checks import check_finite, check_train_labels


def _sample(label, **meta):
    s = SegDataSample(metainfo=dict(seg_map_path='gt/a_labelTrainIds.png',
                                    img_path='img/a.png', **meta))
    s.gt_sem_seg = PixelData(data=label)
    return s


ARGS = dict(num_classes=19, ignore_index=255, outlier_index=254)


def test_valid_batch_passes_including_padding():
    label = torch.full((1, 6, 8), 255, dtype=torch.long)
    label[0, :4, :5] = torch.tensor([0, 18, 254, 255, 3]).repeat(4, 1)
    # preprocessor padded a 4x5 image to 6x8 (left, right, top, bottom)
    check_train_labels([_sample(label, img_shape=(4, 5), padding_size=[0, 3, 0, 2])], **ARGS)
    check_train_labels([_sample(label)], **ARGS)  # no image metadata: size not checked


@pytest.mark.parametrize('label, meta, pattern', [
    (torch.zeros(3, 4, 5, dtype=torch.long), {}, r'shape \(3, 4, 5\), not \(1, H, W\)'),
    (torch.zeros(1, 4, 5, dtype=torch.long), dict(img_shape=(4, 6)),
     'label 4x5 but image 4x6 after the pipeline'),
    (torch.full((1, 2, 2), 19, dtype=torch.long), {}, r'holds values \[19\] outside'),
    (torch.full((1, 2, 2), -1, dtype=torch.long), {}, r'holds values \[-1\] outside'),
])
def test_bad_batches_name_the_files(label, meta, pattern):
    with pytest.raises(ValueError, match=pattern) as err:
        check_train_labels([_sample(label, **meta)], **ARGS)
    assert 'gt/a_labelTrainIds.png (image img/a.png)' in str(err.value)


def test_outlier_id_is_only_allowed_where_declared():
    label = torch.full((1, 2, 2), 254, dtype=torch.long)
    check_train_labels([_sample(label)], **ARGS)
    with pytest.raises(ValueError, match='void 255\\)'):
        check_train_labels([_sample(label)], num_classes=19, ignore_index=255)


def test_non_finite_error_names_the_logged_iteration():
    check_finite(torch.ones(3), what='x')
    hub = MessageHub.get_instance('rel_checks_hub')
    hub.update_info('iter', 41)  # Runner.iter is 0-based; the log shows Iter(train) [42/N]
    bad = torch.tensor([1.0, float('nan'), float('inf'), -float('inf')])
    with pytest.raises(RuntimeError, match=r'^x: 1 NaN and 2 inf values at training '
                                           r'iteration 42; stopped before the optimizer'):
        check_finite(bad, what='x')
