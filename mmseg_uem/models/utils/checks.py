"""Guards on what reaches a decode head in training: label maps and non-finite values.

Shape key: B batch, H x W label (and padded image) size.

mmseg's stock ``LoadAnnotations`` neither compares a label's size with its image's nor checks
its values, and the losses then fail far from the cause ("Target 30 is out of bounds",
"stack expects each tensor to be equal size") or, for a single-image batch, not at all.
NaN / inf features would silently poison the weights (the optimizer steps on NaN gradients)
or the GMM memories. These checks run on the batch a head receives, cost one comparison
pass, and name the files / the training iteration.

Each value check needs the host to read a device count, i.e. a host-device
synchronisation. Called on their own, the checks read it at once (one sync per check).
Inside :func:`deferred_checks` (``UEMEncoderDecoder`` opens it around every training
forward pass) they only queue their counts on the device, and the scope reads all of them
with a single sync when the forward pass ends, before the backward pass and the optimizer
step; state updates that must not see bad data (the GMM memories) are queued with
:func:`after_checks` and run only once the checks have passed. BatchNorm layers update their
running statistics inside the forward pass itself, before a check can stop it:
:func:`running_stats_kept_on_error` puts them back when the step fails.
"""
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm

_state = threading.local()


class _Scope:
    """What a :func:`deferred_checks` scope has queued: (bad count, raiser) pairs and
    actions to run after them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.checks: List[Tuple[Tensor, Callable[[], None]]] = []
        self.actions: List[Callable[[], None]] = []


def _scope() -> Optional[_Scope]:
    return getattr(_state, 'scope', None)


@contextmanager
def deferred_checks(enabled: bool = True) -> Iterator[None]:
    """Batch the checks of the code inside into one host synchronisation at its end.

    On leaving the block normally, the queued bad-value counts are read together (one
    ``tolist()``); the first non-zero one raises its error, else the actions queued with
    :func:`after_checks` run in order. With ``enabled=False`` the value checks are skipped
    (no synchronisation at all) and the actions run unconditionally. Nothing runs if the
    block raises.
    """
    outer, scope = _scope(), _Scope(enabled)
    _state.scope = scope
    try:
        yield
    finally:
        _state.scope = outer
    if scope.checks:
        counts = torch.stack([count for count, _ in scope.checks]).tolist()  # the one sync
        for count, (_, fail) in zip(counts, scope.checks):
            if count:
                fail()
    for action in scope.actions:
        action()


@contextmanager
def running_stats_kept_on_error(module: torch.nn.Module, enabled: bool = True) -> Iterator[None]:
    """Keep a copy of the running statistics of ``module``'s BatchNorm layers in training
    mode and put it back if the block raises (e.g. a check of :func:`deferred_checks`): a
    step stopped by a check then leaves every buffer as it was. ``enabled=False``: no copy."""
    saved = []
    if enabled:
        for layer in module.modules():
            if isinstance(layer, _BatchNorm) and layer.training and layer.track_running_stats:
                saved += [(buf, buf.clone()) for buf in (layer.running_mean, layer.running_var,
                                                         layer.num_batches_tracked)
                          if buf is not None]
    try:
        yield
    except BaseException:
        with torch.no_grad():
            for buf, copy in saved:
                buf.copy_(copy)
        raise


def after_checks(action: Callable[[], None]) -> None:
    """Run ``action`` now, or, inside :func:`deferred_checks`, once its checks have passed."""
    scope = _scope()
    if scope is None:
        action()
    else:
        scope.actions.append(action)


def _require_zero(count: Tensor, fail: Callable[[], None]) -> None:
    """Call ``fail`` (which raises) if the device count ``count`` is non-zero: now (one
    sync) or at the end of the enclosing :func:`deferred_checks` scope."""
    scope = _scope()
    if scope is None:
        if int(count):
            fail()
    elif scope.enabled:
        scope.checks.append((count.reshape(()).long(), fail))


def _files(sample) -> str:
    meta = sample.metainfo
    return f"label {meta.get('seg_map_path', '<unknown>')} (image {meta.get('img_path', '?')})"


def _padded_image_size(meta: dict) -> Optional[Tuple[int, int]]:
    """(H, W) of the image tensor the label must match: ``img_shape`` plus the padding that
    ``SegDataPreProcessor`` added to both (``padding_size`` = left, right, top, bottom)."""
    if 'img_shape' not in meta:
        return None
    height, width = (int(s) for s in meta['img_shape'][:2])
    left, right, top, bottom = meta.get('padding_size', None) or (0, 0, 0, 0)
    return height + int(top) + int(bottom), width + int(left) + int(right)


def check_train_labels(batch_data_samples: Sequence, *, num_classes: int, ignore_index: int,
                       outlier_index: Optional[int] = None) -> None:
    """Raise ``ValueError`` naming the files if a training label map is unusable.

    Each ``gt_sem_seg.data`` must be (1, H, W) (a colour PNG read as a label gives 3
    channels), have its image's (padded) size (both checked at once, on the host), and hold
    only classes ``0..num_classes-1``, ``ignore_index`` and ``outlier_index`` (the
    pasted-outlier id, if any): a device count, checked now or at the end of the
    :func:`deferred_checks` scope. Heads treat out-of-set values as ignored until then
    (``PixelDecoderHead._stack_batch_gt``), so the losses cannot fail first.
    """
    bad_masks = []
    for sample in batch_data_samples:
        label: Tensor = sample.gt_sem_seg.data
        if label.dim() != 3 or label.shape[0] != 1:
            raise ValueError(f'{_files(sample)} gives a map of shape {tuple(label.shape)}, '
                             'not (1, H, W): a colour image instead of a label map?')
        expected = _padded_image_size(sample.metainfo)
        if expected is not None and tuple(label.shape[1:]) != expected:
            raise ValueError(
                f'{_files(sample)}: label {label.shape[1]}x{label.shape[2]} but image '
                f'{expected[0]}x{expected[1]} after the pipeline; the label file and the image '
                'file must have the same size')
        bad = (label < 0) | (label >= num_classes)
        bad &= label != ignore_index
        if outlier_index is not None:
            bad &= label != outlier_index
        bad_masks.append(bad)
    if not bad_masks:
        return

    def fail() -> None:
        sample, bad = next((s, b) for s, b in zip(batch_data_samples, bad_masks) if b.any())
        values = torch.unique(sample.gt_sem_seg.data[bad])[:10].tolist()
        allowed = f'classes 0..{num_classes - 1}, void {ignore_index}'
        if outlier_index is not None:
            allowed += f', pasted outlier {outlier_index}'
        raise ValueError(f'{_files(sample)} holds values {values} outside the training label '
                         f'set ({allowed}); convert the labels (e.g. labelIds -> trainIds) '
                         'or fix num_classes')

    _require_zero(sum(b.sum() for b in bad_masks), fail)


def current_iteration() -> Optional[int]:
    """1-based training iteration as in the log lines ``Iter(train) [k/N]``, if known."""
    from mmengine.logging import MessageHub

    iteration = MessageHub.get_current_instance().get_info('iter')
    return None if iteration is None else int(iteration) + 1


def check_finite(x: Tensor, *, what: str) -> None:
    """Raise ``RuntimeError`` naming ``what`` and the training iteration if ``x`` holds NaN
    or inf (now, or at the end of the :func:`deferred_checks` scope); either way the raise
    comes before the backward pass, the EM update and the optimizer step."""
    x = x.detach()

    def fail() -> None:
        num_nan, num_inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        iteration = current_iteration()
        at = f'training iteration {iteration}' if iteration is not None else 'this step'
        raise RuntimeError(f'{what}: {num_nan} NaN and {num_inf} inf values at {at}; stopped '
                           'before the optimizer step (checkpoints already written are intact)')

    _require_zero((~torch.isfinite(x)).sum(), fail)
