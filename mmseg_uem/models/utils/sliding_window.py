"""Sliding-window inference: mmseg's window grid and the average of the windows' maps.

Shape key: B batch, C map channels (F and O together: K [+ 2]), H x W image,
h x w window, N windows per forward call.

One owner for ``UEMEncoderDecoder.slide_inference`` and the onnxruntime runner
(``mmseg_uem.deployment``): both give a function from a stack of windows to their maps,
and the maps of overlapping windows are averaged here, before any score is formed.
"""
from typing import Callable, List, Sequence, Tuple

import torch
from torch import Tensor

#: (N, 3, h, w) windows and the batch index of each -> (N, C, h, w) maps
WindowFn = Callable[[Tensor, List[int]], Tensor]


def window_grid(size: int, crop: int, stride: int) -> List[Tuple[int, int]]:
    """Start/end of the sliding windows along one axis (mmseg's grid).

    The last window is shifted back to end at the border, so every pixel is
    covered (the public UEM loop leaves holes when ``(size - crop) % stride == 0``).
    A crop larger than ``size`` shrinks to ``size`` (one window, not padded).
    ``stride > crop`` would leave gaps between windows and is refused.
    """
    if size < 1 or crop < 1 or not 1 <= stride <= crop:
        raise ValueError(f'need size >= 1 and 1 <= stride <= crop, got size={size}, '
                         f'crop={crop}, stride={stride}')
    crop = min(crop, size)
    n = max(size - crop + stride - 1, 0) // stride + 1
    spans = []
    for i in range(n):
        end = min(i * stride + crop, size)
        spans.append((end - crop, end))
    return spans


def slide_average(inputs: Tensor, forward_windows: WindowFn, *, crop_size: Sequence[int],
                  stride: Sequence[int], batch_windows: int = 8) -> Tensor:
    """Mean of the windows' maps at every pixel: (B, 3, H, W) -> (B, C, H, W) float32.

    The windows follow :func:`window_grid` along each axis (rows then columns), the B
    images of each grid position together, as mmseg's ``slide_inference`` loop takes them,
    and go to ``forward_windows`` ``batch_windows`` at a time; a group may straddle two
    positions and the last one may be shorter. With ``batch_windows`` = B every call is one
    of mmseg's (its batch-size-dependent rounding included: bitwise for a stock model).
    Windows of one batch share one size (crops shrink only where the image is smaller
    than ``crop_size``), so they stack. Sums are float32 whatever the maps' dtype, added
    window by window in the grid's order (the result does not depend on ``batch_windows``
    beyond the maps' own rounding).

    Args:
        inputs: (B, 3, H, W) preprocessed images.
        forward_windows: (N, 3, h, w) windows and their batch indices -> (N, C, h, w).
        crop_size: window (h, w).
        stride: (row, column) step between windows.
        batch_windows: windows per call, >= 1.
    """
    if batch_windows < 1:
        raise ValueError(f'batch_windows must be >= 1, got {batch_windows}')
    (h_crop, w_crop), (h_stride, w_stride) = crop_size, stride
    batch_size, _, h_img, w_img = inputs.shape
    windows = [(b, y1, y2, x1, x2)
               for y1, y2 in window_grid(h_img, h_crop, h_stride)
               for x1, x2 in window_grid(w_img, w_crop, w_stride)
               for b in range(batch_size)]
    preds = None  # allocated at the first group, when the number of channels C is known
    count = inputs.new_zeros((batch_size, 1, h_img, w_img), dtype=torch.float32)
    for start in range(0, len(windows), batch_windows):
        group = windows[start:start + batch_windows]
        crops = torch.stack([inputs[b, :, y1:y2, x1:x2] for b, y1, y2, x1, x2 in group])
        maps = forward_windows(crops, [b for b, *_ in group])
        if preds is None:
            preds = inputs.new_zeros((batch_size, maps.shape[1], h_img, w_img),
                                     dtype=torch.float32)
        for (b, y1, y2, x1, x2), window_maps in zip(group, maps):
            preds[b, :, y1:y2, x1:x2] += window_maps
            count[b, :, y1:y2, x1:x2] += 1
    return preds / count
