"""Safe unpickling of checkpoints: mmengine's own objects for ``torch.load(weights_only=True)``,
and a restricted unpickler for third-party training checkpoints that pickle a config object.

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
unpickler that never imports or calls what the file names. Reading a checkpoint file is
:func:`mmseg_uem.utils.checkpoint.read_checkpoint`, which uses both.
"""
import _compat_pickle
import pickle
from typing import NamedTuple, Tuple

import numpy as np
import torch

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

    content: object  # the checkpoint with stand-ins turned into plain dicts
    attribute_dicts: Tuple[str, ...]  # classes read as plain dicts, e.g. 'easydict.EasyDict'


def load_untrusted_checkpoint(path: str) -> UntrustedCheckpoint:
    """Unpickle a torch checkpoint from outside without running any code it names.

    Tensors, storages, plain containers and the objects ``weights_only=True`` allows are
    rebuilt as usual; classes it does not know are read as plain dicts if they are attribute
    dicts (``easydict.EasyDict`` in a Lightning ``hyper_parameters``), and anything else a
    pickle asks for (calling a function, building another object) raises
    :class:`RefusedPickle`. No third-party package is imported for it. Errors are torch's
    and pickle's: :func:`mmseg_uem.utils.checkpoint.read_checkpoint` (``attribute_dicts=True``)
    turns them into messages naming the file.
    """
    standins: dict = {}
    obj = torch.load(path, map_location='cpu', weights_only=False,
                     pickle_module=_restricted_pickle_module(standins))
    return UntrustedCheckpoint(_to_plain(obj), tuple(sorted(standins)))
