"""Gaussian smoothing of per-pixel maps (PEBAL's score and its abstention reward).

Shape key: B batch, H x W pixels.

PEBAL smooths with ``torchvision.transforms.GaussianBlur(7, sigma=1)`` both the energy map it
scores at test time (``code/model/wide_network.py: compute_anomaly_score``) and the reward
of its abstention loss (``code/losses.py: Gambler``). That transform builds a normalised 1-D
kernel ``exp(-x^2 / (2 sigma^2))`` on ``x = -(k-1)/2 .. (k-1)/2``, pads each map by ``k // 2``
with reflection (edge pixel not repeated) and convolves rows and columns. This is the same
operation, written so that it stays differentiable in any float dtype (float64 included).
"""
import torch
import torch.nn.functional as F
from torch import Tensor


def gaussian_kernel1d(kernel_size: int, sigma: float, *, dtype: torch.dtype = torch.float32,
                      device=None) -> Tensor:
    """(k,) normalised Gaussian weights centred on the middle tap."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'kernel_size must be a positive odd number, got {kernel_size}')
    if sigma <= 0:
        raise ValueError(f'sigma must be > 0, got {sigma}')
    half = (kernel_size - 1) / 2
    x = torch.linspace(-half, half, kernel_size, dtype=dtype, device=device)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def gaussian_blur(maps: Tensor, *, kernel_size: int = 7, sigma: float = 1.0) -> Tensor:
    """Blur each (H, W) map of ``maps`` (B, H, W) or (B, 1, H, W); same shape and dtype out.

    The defaults are PEBAL's (kernel 7, sigma 1), used by its score and its loss.

    Reflection padding needs ``H, W > kernel_size // 2``: smaller maps are refused rather
    than padded some other way.
    """
    if maps.dim() not in (3, 4) or (maps.dim() == 4 and maps.shape[1] != 1):
        raise ValueError(f'gaussian_blur takes (B, H, W) or (B, 1, H, W) maps, got '
                         f'{tuple(maps.shape)}')
    pad = kernel_size // 2
    height, width = maps.shape[-2:]
    if min(height, width) <= pad:
        raise ValueError(f'a {kernel_size}x{kernel_size} reflection-padded blur needs maps '
                         f'larger than {pad} pixels per side, got {height}x{width}')
    x = maps.reshape(-1, 1, height, width)  # (B, 1, H, W)
    kernel = gaussian_kernel1d(kernel_size, sigma, dtype=x.dtype, device=x.device)
    x = F.pad(x, (pad, pad, pad, pad), mode='reflect')
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))  # rows: (B, 1, H + 2 pad, W)
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))  # columns: (B, 1, H, W)
    return x.reshape(maps.shape)
