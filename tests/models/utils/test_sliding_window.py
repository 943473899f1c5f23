"""Tests of slide_average: the window grid + averaging shared by the segmentor and the
onnxruntime runner. References are float64 loops over mmseg's window loop."""
import pytest
import torch

from mmseg_uem.models.utils.sliding_window import slide_average, window_grid


def reference(inputs, fn, crop, stride):
    """One window at a time, image by image, float64 sums."""
    batch, _, height, width = inputs.shape
    preds = count = None
    for b in range(batch):
        for y1, y2 in window_grid(height, crop[0], stride[0]):
            for x1, x2 in window_grid(width, crop[1], stride[1]):
                out = fn(inputs[b:b + 1, :, y1:y2, x1:x2], [b]).double()
                if preds is None:
                    preds = torch.zeros(batch, out.shape[1], height, width, dtype=torch.float64)
                    count = torch.zeros(batch, 1, height, width, dtype=torch.float64)
                preds[b, :, y1:y2, x1:x2] += out[0]
                count[b, :, y1:y2, x1:x2] += 1
    return preds / count


def nonlinear_maps(crops, images):
    """Maps that depend on the window's content and position in the batch: a wrong window
    placement or a wrong image index changes the average."""
    idx = torch.tensor(images, dtype=crops.dtype)[:, None, None, None]
    return torch.cat([crops.tanh() * (idx + 1), crops.mean((1, 2, 3), keepdim=True)
                      .expand(-1, 1, *crops.shape[2:]) + idx], 1)


@pytest.mark.parametrize('batch_windows', [1, 3, 8, 100])
@pytest.mark.parametrize('shape,crop,stride', [((2, 3, 61, 97), (28, 42), (14, 28)),
                                               ((1, 3, 20, 30), (28, 42), (14, 28)),
                                               ((3, 3, 28, 42), (28, 42), (28, 42))])
def test_slide_average_equals_window_loop(batch_windows, shape, crop, stride):
    inputs = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    got = slide_average(inputs, nonlinear_maps, crop_size=crop, stride=stride,
                        batch_windows=batch_windows)
    want = reference(inputs, nonlinear_maps, crop, stride)
    assert got.dtype == torch.float32 and got.shape == (shape[0], 4, *shape[2:])
    assert (got.double() - want).abs().max() < 1e-6


def test_identity_windows_give_the_image_back_and_group_sizes():
    inputs = torch.randn(2, 3, 50, 70, generator=torch.Generator().manual_seed(1))
    sizes = []

    def identity(crops, images):
        sizes.append(len(images))
        return crops

    out = slide_average(inputs, identity, crop_size=(28, 28), stride=(14, 14), batch_windows=5)
    # every pixel is the mean of copies of itself
    assert torch.allclose(out, inputs, atol=1e-6)
    n = len(window_grid(50, 28, 14)) * len(window_grid(70, 28, 14)) * 2  # 3 x 4 x 2 = 24
    assert n == 24 and sizes == [5, 5, 5, 5, 4]


def test_windows_go_position_major_as_mmseg_loop():
    """Each call takes the B images of one grid position (mmseg's slide loop order)."""
    inputs = torch.randn(2, 3, 30, 40, generator=torch.Generator().manual_seed(2))
    calls = []

    def record(crops, images):
        calls.append((images, crops.clone()))
        return crops

    slide_average(inputs, record, crop_size=(20, 20), stride=(10, 10), batch_windows=2)
    spans = [(y, x) for y in window_grid(30, 20, 10) for x in window_grid(40, 20, 10)]
    assert len(calls) == len(spans) == 6
    for (images, crops), ((y1, y2), (x1, x2)) in zip(calls, spans):
        assert images == [0, 1]
        assert torch.equal(crops, inputs[:, :, y1:y2, x1:x2])


def test_bad_batch_windows():
    with pytest.raises(ValueError, match='batch_windows must be >= 1'):
        slide_average(torch.zeros(1, 3, 8, 8), lambda c, i: c, crop_size=(4, 4),
                      stride=(4, 4), batch_windows=0)
