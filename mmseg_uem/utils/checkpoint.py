"""Checkpoint files: a cheap completeness check, and safe reloading of the checkpoints that
mmengine writes.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine 0.10.7's
checkpoints hold a few non-tensor objects (its ``MessageHub`` keeps
``HistoryBuffer`` instances with numpy arrays), so ``--resume``, ``load_from``
and ``tools/test.py`` fail with ``Unsupported global``. Rather than switching
the safety check off (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1``), we allow exactly
the objects mmengine writes. Third-party weights keep the full
``weights_only=True`` protection: nothing callable is allowed besides a
``getattr`` restricted to ``HistoryBuffer``'s statistics methods.

Third-party training checkpoints that pickle a config object (Lightning's
``hyper_parameters``) are read by :func:`load_untrusted_checkpoint`, a restricted
unpickler that never imports or calls what the file names.

Also the one comparison of a checkpoint's keys and shapes with a model's
(:func:`state_dict_mismatch`, :func:`format_mismatch`), for every strict loading check.
"""
import _compat_pickle
import os.path as osp
import pickle
import zipfile
from typing import Any, List, Mapping, NamedTuple, Tuple

import numpy as np
import torch
from torch import Tensor

_HISTORY_STATISTICS = ('min', 'max', 'current', 'mean')


class RefusedPickle(pickle.UnpicklingError):
    """A pickle asked for something :func:`load_untrusted_checkpoint` does not allow."""


def _history_buffer_getattr(obj, name: str):
    """``getattr`` limited to what a pickled ``HistoryBuffer`` references.

    ``HistoryBuffer.__getstate__`` stores its statistics methods, which pickle
    as ``getattr(HistoryBuffer, 'min')`` etc.
    """
    from mmengine.logging import HistoryBuffer

    if obj is HistoryBuffer and name in _HISTORY_STATISTICS:
        return getattr(obj, name)
    raise RefusedPickle(
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


#: first bytes of a pre-1.6 (non-zip) torch.save file: pickle protocol 2, then a long int
_LEGACY_TORCH_MAGIC = b'\x80\x02\x8a\x0a'


def check_checkpoint_file(path: str, *, what: str = 'checkpoint') -> None:
    """Raise naming ``path`` if it is missing or not a complete torch (zip) checkpoint.

    Reads only the zip directory at the end of the file, so a file cut short (an
    interrupted download or copy) fails here, before the Runner starts, instead of deep in
    ``torch.load`` ("failed finding central directory", without the file name).
    """
    if '://' in path:  # a URL: mmengine's loader reports its own errors
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} {path} does not exist')
    with open(path, 'rb') as f:
        legacy = f.read(4) == _LEGACY_TORCH_MAGIC  # torch < 1.6 format: not checkable
    if not legacy and not zipfile.is_zipfile(path):
        raise ValueError(f'{what} {path} is truncated or not a torch checkpoint (no zip '
                         'directory at its end): copy or download it again')


# ---------------------------------------------------------------------------------------------
# Third-party training checkpoints that pickle their config (PyTorch Lightning)
# ---------------------------------------------------------------------------------------------
# Lightning stores ``save_hyperparameters`` in ``hyper_parameters``; the official UEM code
# passes an ``easydict.EasyDict``, so those files name a class that ``weights_only=True``
# refuses, while ``weights_only=False`` would run whatever a file asks for. The unpickler
# below resolves only the globals ``weights_only=True`` allows (plus mmengine's, above); any
# other name becomes an inert stand-in type that can only be instantiated the way pickle
# rebuilds a dict subclass (NEWOBJ without arguments, SETITEMS, BUILD), never called.


class _RefusingType(type):
    """Metaclass of the stand-ins: calling one (pickle's REDUCE) is refused."""

    def __call__(cls, *args, **kwargs):
        raise RefusedPickle(
            f'refusing to call {cls.pickled_name} while loading a checkpoint: only tensors, '
            'plain containers and attribute-dict configs are read')


class PickledAttributeDict(dict, metaclass=_RefusingType):
    """A plain dict standing in for an attribute-dict class that the file names.

    An attribute dict (``easydict.EasyDict``, Lightning's ``AttributeDict``) pickles as
    NEWOBJ with no arguments, its items, and optionally its ``__dict__`` as state, whose
    entries are the items themselves. Anything else asked of a stand-in is refused: its
    class is never imported and none of its code runs.
    """

    pickled_name = '?'

    def __new__(cls, *args, **kwargs):
        if args or kwargs:
            raise RefusedPickle(
                f'refusing to build {cls.pickled_name} with arguments while loading a '
                'checkpoint: it is not an attribute dict')
        return dict.__new__(cls)

    def __setstate__(self, state) -> None:
        # EasyDict's attributes mirror its items (the same objects, through the pickle memo)
        if not isinstance(state, dict) or any(
                not isinstance(k, str) or k not in self or not _same(self[k], v)
                for k, v in state.items()):
            raise RefusedPickle(
                f'refusing {self.pickled_name} while loading a checkpoint: its pickled state '
                'is not a copy of its items, so it is not an attribute dict')


def _same(a, b) -> bool:
    return a is b or (type(a) is type(b) and isinstance(a, (str, int, float, bool, bytes))
                      and a == b)


def _allowed_globals() -> dict:
    """'module.name' -> object: what ``torch.load(weights_only=True)`` accepts (its own
    allow-list of tensor and storage rebuilders) plus mmengine's objects."""
    try:
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = dict(_get_allowed_globals())
    except ImportError:  # another torch layout: the minimum that tensors need
        import collections
        allowed = {'collections.OrderedDict': collections.OrderedDict,
                   'torch._utils._rebuild_tensor_v2': torch._utils._rebuild_tensor_v2,
                   'torch._utils._rebuild_parameter': torch._utils._rebuild_parameter,
                   'torch.Size': torch.Size, 'torch.device': torch.device}
    for item in mmengine_safe_globals():
        obj, name = item if isinstance(item, tuple) else (
            item, f'{item.__module__}.{item.__qualname__}')
        allowed[name] = obj
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """``find_class`` limited to :func:`_allowed_globals`; other names get a stand-in,
    recorded in ``self.standins`` (set by :func:`_restricted_pickle_module`)."""

    standins: dict

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.allowed = _allowed_globals()

    def find_class(self, module: str, name: str):
        # protocol-2 pickles (torch.save's) name Python 2 modules: map them as pickle does
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full = f'{module}.{name}'
        if full in self.allowed:
            return self.allowed[full]
        if full not in self.standins:
            self.standins[full] = _RefusingType(name, (PickledAttributeDict, ),
                                                dict(pickled_name=full))
        return self.standins[full]


def _restricted_pickle_module(standins: dict):
    """A module object for ``torch.load(pickle_module=...)`` that records its stand-ins."""
    import types

    module = types.ModuleType('mmseg_uem_restricted_pickle')
    module.Unpickler = type('Unpickler', (_RestrictedUnpickler, ), dict(standins=standins))
    module.load = lambda f, **kw: module.Unpickler(f, **kw).load()
    module.__dict__.update({k: getattr(pickle, k) for k in ('UnpicklingError', 'dumps',
                                                             'Pickler', 'HIGHEST_PROTOCOL')})
    return module


def _to_plain(obj):
    """Stand-in dicts -> dict, recursively through dicts, lists and tuples."""
    if isinstance(obj, PickledAttributeDict):
        return {k: _to_plain(v) for k, v in obj.items()}
    if type(obj) is dict:
        return {k: _to_plain(v) for k, v in obj.items()}
    if type(obj) in (list, tuple):
        return type(obj)(_to_plain(v) for v in obj)
    return obj


class UntrustedCheckpoint(NamedTuple):
    """What :func:`load_untrusted_checkpoint` read."""

    content: dict  # the checkpoint with stand-ins turned into plain dicts
    attribute_dicts: Tuple[str, ...]  # classes read as plain dicts, e.g. 'easydict.EasyDict'


def load_untrusted_checkpoint(path: str, *, what: str = 'checkpoint') -> UntrustedCheckpoint:
    """Read a torch checkpoint from outside without running any code it names.

    Tensors, storages, plain containers and the objects ``weights_only=True`` allows are
    rebuilt as usual; classes it does not know are read as plain dicts if they are attribute
    dicts (``easydict.EasyDict`` in a Lightning ``hyper_parameters``), and anything else a
    pickle asks for (calling a function, building another object) is refused with an error
    naming the file. No third-party package is imported for it.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    standins: dict = {}
    try:
        obj = torch.load(path, map_location='cpu', weights_only=False,
                         pickle_module=_restricted_pickle_module(standins))
    except RefusedPickle as err:
        raise RuntimeError(f'refused to load {what} {path}: {err}') from err
    except Exception as err:  # zip / stream errors of a truncated or foreign file
        reason = next((line.strip() for line in str(err).splitlines() if line.strip()), '')
        raise RuntimeError(f'could not read {what} {path}: the file is truncated, corrupt or '
                           f'not a torch checkpoint ({type(err).__name__}'
                           f'{": " + reason if reason else ""})') from err
    if not isinstance(obj, dict):
        raise RuntimeError(f'{what} {path} holds a {type(obj).__name__}, not a dict')
    return UntrustedCheckpoint(_to_plain(obj), tuple(sorted(standins)))


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


#: safetensors dtype names -> torch dtypes (the format's spec)
_SAFETENSORS_DTYPES = {
    'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16,
    'I64': torch.int64, 'I32': torch.int32, 'I16': torch.int16, 'I8': torch.int8,
    'U8': torch.uint8, 'BOOL': torch.bool}


def read_safetensors(path: str) -> dict:
    """The tensors of a ``.safetensors`` file (Hugging Face / timm hub weights), read without
    the ``safetensors`` package: an 8-byte little-endian header size, a JSON header
    ``{name: {dtype, shape, data_offsets}}``, then the raw little-endian data. Nothing in the
    file is executed. Raises ``ValueError`` naming the file if it is not well formed."""
    import json
    import struct

    with open(path, 'rb') as f:
        data = f.read()
    try:
        (size, ) = struct.unpack('<Q', data[:8])
        header = json.loads(data[8:8 + size])
        if not isinstance(header, dict):
            raise ValueError('the header is not a JSON object')
    except (struct.error, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f'{path}: not a safetensors file ({err})') from err
    body = memoryview(data)[8 + size:]
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dtype = _SAFETENSORS_DTYPES.get(info.get('dtype'))
        start, end = info.get('data_offsets', (0, -1))
        shape = tuple(info.get('shape', ()))
        numel = int(np.prod(shape)) if shape else 1
        if dtype is None or not 0 <= start <= end <= len(body) or \
                end - start != numel * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f'{path}: tensor {name!r} has an unsupported dtype '
                             f'{info.get("dtype")!r} or inconsistent offsets / shape')
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if numel else \
            torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(shape)
    return out
