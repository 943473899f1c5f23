"""Unknown configuration keys are errors that name the key and the valid ones.

mmengine merges ``--cfg-options`` and config files without knowing which keys a module
reads, so a misspelt key (``model.test_cfg.scor=ID``) would otherwise be carried along
unread and the run would report the default's numbers under the user's label.
"""
import difflib
import inspect
from typing import Iterable, Mapping, Optional, Set


def check_keys(given: Optional[Mapping], valid: Iterable[str], *, what: str) -> None:
    """Raise ``ValueError`` if ``given`` has keys outside ``valid``.

    Args:
        given: the config dict (None or empty: nothing to check).
        valid: the keys its reader uses.
        what: how the message names the dict, e.g. ``'model.test_cfg'``.
    """
    valid = sorted(set(valid))
    unknown = sorted(str(k) for k in (given or {}) if k not in valid and k != '_scope_')
    if not unknown:
        return
    close = {k: difflib.get_close_matches(k, valid, n=1) for k in unknown}
    hints = [f'{k!r} (did you mean {m[0]!r}?)' if m else repr(k) for k, m in close.items()]
    raise ValueError(f'{what}: unknown key{"s" if len(unknown) > 1 else ""} '
                     f'{", ".join(hints)}; valid keys: {", ".join(valid)}')


def init_arg_names(cls: type, *, stop: Optional[type] = None) -> Set[str]:
    """Keyword names ``cls.__init__`` takes, following ``**kwargs`` up the class hierarchy
    to the first ``__init__`` without them (or to ``stop``)."""
    names: Set[str] = set()
    for klass in cls.__mro__:
        if '__init__' not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
        if not any(p.kind == p.VAR_KEYWORD for p in params) or klass is stop:
            break
    return names - {'self'}
