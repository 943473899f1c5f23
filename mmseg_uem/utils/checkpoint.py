"""Safe reloading of the checkpoints that mmengine writes.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7's
checkpoints hold a few non-tensor objects (its ``MessageHub`` keeps
``HistoryBuffer`` instances with numpy arrays), so ``--resume``, ``load_from``
and ``tools/test.py`` fail with ``Unsupported global``. Rather than switching
the safety check off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), we allow exactly
the objects mmengine writes. Third-party weights keep the full
``weights_only=True`` protection: nothing callable is allowed besides a
``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

Also the one comparison of a checkpoint's keys and shapes with a model's
(:func:`state_dict_mismatch`, :func:`format_mismatch`), for every strict loading check.
"""
import pickle
from typing import Any, List, Mapping, Tuple

import numpy as np
import torch
from torch import Tensor

_HISTORY_STATISTICS = ('min', 'max', 'current', 'mean')


def _history_buffer_getattr(obj, name: str):
    """``getattr`` limited to what a pickled ``HistoryBuffer`` references.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which pickle
    as ``getattr(HistoryBuffer, 'min')`` etc.
    """
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and name in _HISTORY_STATISTICS:
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only '
        f'HistoryBuffer statistics methods {_HISTORY_STATISTICS} are allowed')


def mmengine_safe_globals() -> list:
    """The globals an mmengine 0.10 checkpoint references, for ``weights_only``."""
    from mmengine.logging import HistoryBuffer

    np_core = getattr(np, '_core', None) or np.core
    multiarray = np_core.multiarray
    mod = multiarray.__name__  # numpy._core.multiarray on numpy 2
    return [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        (multiarray.scalar, f'{mod}.scalar'),
        (multiarray._reconstruct, f'{mod}._reconstruct'),
        (_history_buffer_getattr, 'builtins.getattr'),
        *[type(np.dtype(t)) for t in ('f8', 'f4', 'i8', 'i4', 'u1', 'b1')],
    ]


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints."""
    if not hasattr(torch.serialization, 'add_safe_globals'):  # torch < 2.4
        return
    torch.serialization.add_safe_globals(mmengine_safe_globals())


def state_dict_mismatch(expected: Mapping[str, Tensor], given: Mapping[str, Any]
                        ) -> Tuple[List[str], List[str], List[str]]:
    """Keys of ``given`` against ``expected`` (a model's state dict): sorted missing keys,
    unexpected keys and shape mismatches (``'key (given shape) vs model (shape)'``)."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    bad_shapes = sorted(
        f'{k} {tuple(getattr(given[k], "shape", ()))} vs model {tuple(expected[k].shape)}'
        for k in set(expected) & set(given)
        if not isinstance(given[k], Tensor) or given[k].shape != expected[k].shape)
    return missing, unexpected, bad_shapes


def format_mismatch(missing: List[str], unexpected: List[str], bad_shapes: List[str], *,
                    limit: int = 20) -> str:
    """Indented lines listing the three kinds of :func:`state_dict_mismatch` (``limit`` keys
    each, then a count)."""
    msg = ''
    for title, items in (('missing keys', missing), ('unexpected keys', unexpected),
                         ('shape mismatches (checkpoint vs model)', bad_shapes)):
        if items:
            shown = ', '.join(items[:limit]) + (f', ... ({len(items) - limit} more)'
                                                if len(items) > limit else '')
            msg += f'\n  {title} ({len(items)}): {shown}'
    return msg
