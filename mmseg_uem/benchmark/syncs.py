"""Find the host-device synchronisations of a piece of code, on any device.

On CUDA a host synchronisation happens whenever the host needs a value the device computes:
``.item()`` / ``int()`` / ``bool()`` of a tensor, ops whose output size depends on the data
(``nonzero``, boolean-mask indexing, ``masked_select``, ``unique``, ``bincount``,
``repeat_interleave`` with tensor repeats) and copies to the host (``.tolist()``,
``.numpy()``, ``.cpu()``). ``torch.cuda.set_sync_debug_mode`` reports them only on a GPU;
:class:`SyncAudit` intercepts the same operations at the dispatcher, so a CPU run (a test)
finds every place that would synchronise on a GPU, with the source line that caused it.
"""
import os.path as osp
import traceback
import warnings
from collections import Counter
from typing import Callable, Dict, Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: ops that always need the data on the host (output size or value depends on it)
SYNC_OPS = frozenset({
    'aten::_local_scalar_dense',  # .item(), int(t), float(t), bool(t)
    'aten::nonzero',
    'aten::argwhere',
    'aten::masked_select',
    'aten::_unique',
    'aten::_unique2',
    'aten::unique_dim',
    'aten::unique_consecutive',
    'aten::unique_dim_consecutive',
    'aten::bincount',  # CUDA: output length from the max
    'aten::equal',
    'aten::is_nonzero',
})
#: ops that synchronise when an index is a boolean mask (it is turned into nonzero())
_MASK_INDEX_OPS = frozenset({'aten::index', 'aten::index_put', 'aten::index_put_',
                             'aten::_index_put_impl_'})
_TORCH_DIR = osp.dirname(torch.__file__)


def _is_mask(index) -> bool:
    return torch.is_tensor(index) and index.dtype in (torch.bool, torch.uint8)


def _caller() -> str:
    """``file:line (function)`` of the innermost frame outside torch itself."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not frame.filename.startswith(_TORCH_DIR) and frame.filename != __file__:
            return f'{frame.filename}:{frame.lineno} ({frame.name})'
    return '<torch>'


class SyncAudit(TorchDispatchMode):
    """Record every operation that would make the host wait for the device.

    Use as a context manager; ``found`` maps ``'file:line (function): op'`` to a count.
    ``.tolist()`` and ``.numpy()`` (which do not pass through the dispatcher for CPU
    tensors) are counted by wrapping the methods while the audit is active. Copies from a
    non-CPU device to the CPU are counted as ``aten::_to_copy`` / ``aten::copy_``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.found: Counter = Counter()
        self._saved: Dict[str, object] = {}

    def _record(self, op: str) -> None:
        self.found[f'{_caller()}: {op}'] += 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = func._schema.name
        if name in SYNC_OPS:
            self._record(name)
        elif name in _MASK_INDEX_OPS:
            indices = args[1] if len(args) > 1 else kwargs.get('indices', ())
            if any(_is_mask(i) for i in indices or ()):
                self._record(f'{name} with a boolean mask')
        elif name in ('aten::_to_copy', 'aten::copy_'):
            src = args[1] if name == 'aten::copy_' else args[0]
            dst_device = (args[0].device if name == 'aten::copy_'
                          else kwargs.get('device', src.device))
            if (torch.is_tensor(src) and src.device.type != 'cpu'
                    and torch.device(dst_device).type == 'cpu'):
                self._record(f'{name} to the host')
        return func(*args, **kwargs)

    def __enter__(self) -> 'SyncAudit':
        for method in ('tolist', 'numpy'):
            original = getattr(torch.Tensor, method)
            self._saved[method] = original

            def wrapped(tensor, *args, __original=original, __method=method, **kwargs):
                self._record(f'Tensor.{__method}()')
                return __original(tensor, *args, **kwargs)

            setattr(torch.Tensor, method, wrapped)
        return super().__enter__()

    def __exit__(self, *exc) -> Optional[bool]:
        for method, original in self._saved.items():
            setattr(torch.Tensor, method, original)
        self._saved.clear()
        return super().__exit__(*exc)


def find_syncs(step: Callable[..., None], device: torch.device) -> Dict[str, int]:
    """Host-device synchronisations of one training step, counted per source line.

    CUDA: the whole step (optimizer included) under ``torch.cuda.set_sync_debug_mode``.
    Other devices: the forward and backward passes under :class:`SyncAudit`, which flags
    the operations that would synchronise on a GPU (the optimizer is left out: on the CPU
    AdamW reads its step counters with ``.item()``, host tensors on a GPU).
    """
    step()  # lazy initialisation (optimizer state, cuBLAS handles) is not the hot path
    if device.type != 'cuda':
        with SyncAudit() as audit:
            step(update=False)
        return dict(audit.found.most_common())
    torch.cuda.synchronize(device)
    found: Counter = Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode('default')
    for w in caught:
        if 'synchroniz' in str(w.message):
            found[f'{w.filename}:{w.lineno}'] += 1
    return dict(found.most_common())
