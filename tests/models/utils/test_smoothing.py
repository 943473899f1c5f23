"""gaussian_blur against torchvision's GaussianBlur (what PEBAL calls) and a float64 loop."""
import math

import pytest
import torch
from torchvision.transforms import functional as TF

from mmseg_uem.models.utils.smoothing import gaussian_blur, gaussian_kernel1d


def _loop_blur(img, k, sigma):
    """float64 2-D Gaussian blur by explicit sums, reflection at the borders."""
    h, w = len(img), len(img[0])
    half = k // 2
    taps = [math.exp(-0.5 * ((i - half) / sigma) ** 2) for i in range(k)]
    total = sum(taps)
    taps = [t / total for t in taps]

    def reflect(i, n):
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    return [[sum(taps[a] * taps[b] * img[reflect(y + a - half, h)][reflect(x + b - half, w)]
                 for a in range(k) for b in range(k)) for x in range(w)] for y in range(h)]


def test_kernel_is_normalised_and_symmetric():
    kern = gaussian_kernel1d(7, 1.0, dtype=torch.float64)
    assert kern.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(kern, kern.flip(0))
    # hand value of the centre tap: 1 / sum_{x=-3..3} exp(-x^2 / 2)
    centre = 1 / sum(math.exp(-x * x / 2) for x in range(-3, 4))
    assert kern[3].item() == pytest.approx(centre)


def test_matches_torchvision_gaussian_blur():
    torch.manual_seed(0)
    maps = torch.randn(3, 9, 11)
    ours = gaussian_blur(maps)
    theirs = TF.gaussian_blur(maps.unsqueeze(1), kernel_size=[7, 7], sigma=[1.0, 1.0])[:, 0]
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)


def test_matches_float64_loop_and_keeps_dtype():
    torch.manual_seed(1)
    maps = torch.randn(1, 1, 5, 6, dtype=torch.float64)
    out = gaussian_blur(maps, kernel_size=5, sigma=0.8)
    assert out.shape == maps.shape and out.dtype == torch.float64
    expected = torch.tensor(_loop_blur(maps[0, 0].tolist(), 5, 0.8), dtype=torch.float64)
    torch.testing.assert_close(out[0, 0], expected)


def test_constant_map_is_unchanged():
    maps = torch.full((2, 6, 6), 3.5)
    torch.testing.assert_close(gaussian_blur(maps), maps)


def test_refuses_maps_too_small_and_bad_shapes():
    with pytest.raises(ValueError, match='larger than 3 pixels'):
        gaussian_blur(torch.zeros(1, 3, 10))
    with pytest.raises(ValueError, match=r'\(B, H, W\)'):
        gaussian_blur(torch.zeros(1, 2, 8, 8))
    with pytest.raises(ValueError, match='odd'):
        gaussian_kernel1d(4, 1.0)
