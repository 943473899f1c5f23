"""The one checkpoint API: reading a checkpoint file, and matching its state dict to a model.

Every place that reads weights goes through here (``tools/test.py``'s pre-flight, the
inferencer of ``tools/infer.py``, the ONNX export, the stage-1 hand-over, the DINOv2
backbone, the official-model converter), so the same mistake gives the same error wherever
it is made:

- :func:`read_checkpoint` reads every form we accept (an mmengine checkpoint, a bare state
  dict, a Lightning checkpoint with an attribute-dict config, a ``.safetensors`` file of
  Hugging Face / timm weights, :func:`read_safetensors`) with ``weights_only``
  protection (mmengine's own objects allowed, :mod:`~mmseg_uem.utils.safe_pickle`); a file
  that is missing raises ``FileNotFoundError``, one that cannot be read
  :class:`CheckpointReadError`; both name the file.
- :func:`state_dict_of` unwraps ``state_dict`` and strips a DDP ``module.`` prefix.
- :func:`match_state_dict` compares a state dict with a model's and raises one
  :class:`CheckpointMismatchError` listing missing, unexpected and mis-shaped keys, with
  hints for the usual mistakes (a stage-1 file for a stage-2 model or the reverse, bare
  backbone weights, another model variant, another backbone architecture).

Message format, for every caller::

    <what> <path> does not fit <target> (<N> tensors):
      missing keys (n): a, b, ...
      unexpected keys (n): ...
      shape mismatches (checkpoint vs model) (n): key (shape) vs model (shape), ...
      hint: ...
"""
import math
import os.path as osp
import pickle
import zipfile
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from .safe_pickle import RefusedPickle, allow_mmengine_checkpoints, load_untrusted_checkpoint

#: first bytes of a pre-1.6 (non-zip) torch.save file: pickle protocol 2, then a long int
_LEGACY_TORCH_MAGIC = b'\x80\x02\x8a\x0a'


class CheckpointReadError(ValueError):
    """A checkpoint file that cannot be read: truncated, corrupt, not a torch checkpoint, a
    pickle asking for code, or not a dict. The message names the file."""


class CheckpointMismatchError(ValueError):
    """A checkpoint's state dict does not fit a model (see the module docstring's format).

    Attributes:
        checkpoint: the file (or source) named.
        missing, unexpected, bad_shapes: sorted keys, as :func:`state_dict_mismatch`.
        hints: the ``hint:`` lines' texts.
    """

    def __init__(self, *, what: str, checkpoint: str, target: str, num_expected: int,
                 missing: List[str], unexpected: List[str], bad_shapes: List[str],
                 hints: Sequence[str] = (), advice: Optional[str] = None,
                 limit: int = 20) -> None:
        self.checkpoint, self.target = checkpoint, target
        self.missing, self.unexpected, self.bad_shapes = missing, unexpected, bad_shapes
        self.hints = list(hints)
        message = (f'{what} {checkpoint} does not fit {target} ({num_expected} tensors):'
                   + format_mismatch(missing, unexpected, bad_shapes, limit=limit)
                   + ''.join(f'\n  hint: {h}' for h in self.hints))
        if advice:
            message += f'\n  ({advice})'
        super().__init__(message)


# ---------------------------------------------------------------------------------- reading
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
        raise CheckpointReadError(f'{what} {path} is truncated or not a torch checkpoint (no '
                                  'zip directory at its end): copy or download it again')


def read_checkpoint(path: str, *, what: str = 'checkpoint',
                    attribute_dicts: bool = False) -> dict:
    """Read the checkpoint file ``path`` onto the CPU, running none of the code a pickle
    may name.

    Args:
        path: a local file (or a URL, read by mmengine's ``CheckpointLoader``).
        what: how the file is named in errors ('checkpoint', 'stage-1 checkpoint', ...).
        attribute_dicts: also read attribute-dict classes a third-party training checkpoint
            pickles (``easydict.EasyDict`` in a Lightning ``hyper_parameters``) as plain
            dicts (:func:`~mmseg_uem.utils.safe_pickle.load_untrusted_checkpoint`); else
            ``torch.load(weights_only=True)`` with mmengine's own objects allowed.

    Raises:
        FileNotFoundError: no such file.
        CheckpointReadError: truncated, corrupt, not a torch checkpoint, refused (a pickle
            naming something other than tensors and plain containers), or not a dict.
    """
    if '://' in path:
        from mmengine.runner import CheckpointLoader

        loaded = CheckpointLoader.load_checkpoint(path, map_location='cpu')
    elif str(path).endswith('.safetensors'):  # Hugging Face / timm weights: no pickle at all
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} {path} does not exist')
        try:
            loaded = read_safetensors(path)
        except ValueError as err:
            raise CheckpointReadError(f'could not read {what} {path}: {err}') from err
    else:
        check_checkpoint_file(path, what=what)
        try:
            if attribute_dicts:
                loaded = load_untrusted_checkpoint(path).content
            else:
                allow_mmengine_checkpoints()
                loaded = torch.load(path, map_location='cpu', weights_only=True)
        except RefusedPickle as err:
            raise CheckpointReadError(f'refused to load {what} {path}: {err}') from err
        except Exception as err:
            text = str(err)
            # weights_only names the refused global ("Unsupported global: GLOBAL mod.Class",
            # or "unsupported GLOBAL posix.system ..."); other errors mean a broken file
            refused = next((line.strip() for line in text.splitlines() if 'GLOBAL' in line),
                           None)
            if isinstance(err, pickle.UnpicklingError) and refused:
                raise CheckpointReadError(
                    f'refused to load {what} {path}: it holds objects other than tensors and '
                    'plain containers, which torch.load(weights_only=True) does not allow '
                    f'({refused})') from err
            reason = next((line.strip() for line in text.splitlines() if line.strip()), '')
            raise CheckpointReadError(
                f'could not read {what} {path}: the file is truncated, corrupt or not a torch '
                f'checkpoint ({type(err).__name__}{": " + reason if reason else ""})') from err
    if not isinstance(loaded, dict):
        raise CheckpointReadError(f'{what} {path} holds a {type(loaded).__name__}, not a dict')
    return loaded


def state_dict_of(checkpoint: Mapping, *, source: str,
                  what: str = 'checkpoint') -> Dict[str, Any]:
    """The state dict in ``checkpoint`` (mmengine's ``state_dict`` entry, or the checkpoint
    itself if it is a bare state dict), without a DDP ``module.`` prefix."""
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, Mapping):
        raise CheckpointReadError(f'{what} {source}: its state_dict is a '
                                  f'{type(state).__name__}, not a dict')
    return {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}


def read_state_dict(path: str, *, what: str = 'checkpoint') -> Dict[str, Any]:
    """:func:`state_dict_of` of :func:`read_checkpoint`."""
    return state_dict_of(read_checkpoint(path, what=what), source=path, what=what)


# --------------------------------------------------------------------------------- matching
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


def _top(key: str) -> str:
    return key.split('.', 1)[0]


def mismatch_hints(expected: Mapping[str, Tensor], given: Mapping[str, Any],
                   missing: List[str], unexpected: List[str],
                   bad_shapes: List[str]) -> List[str]:
    """What the mismatch most likely is: bare backbone weights, stage 1 vs stage 2, another
    model variant, another backbone architecture (registers, width, grid, depth)."""
    if missing and len(missing) == len(expected) and given and \
            not {_top(k) for k in given} & {_top(k) for k in expected}:
        return ['no key of the file belongs to the model: bare backbone weights (e.g. an '
                'official DINOv2 .pth) go into model.backbone.init_cfg=dict(type='
                "'Pretrained', checkpoint=...) for training, not where a complete model's "
                'checkpoint is read']
    hints = []
    aux = 'auxiliary_head.'
    if missing and all(k.startswith(aux) for k in missing):
        hints.append('the file has no UEM (auxiliary_head): a stage-1 checkpoint given to a '
                     'stage-2 model; use the stage-2 checkpoint, or a *_stage1_* config')
    elif unexpected and all(k.startswith(aux) for k in unexpected) and not missing:
        hints.append('the file has a UEM (auxiliary_head): a stage-2 checkpoint given to a '
                     'stage-1 model; use the stage-2 config it was trained with')
    elif bad_shapes or {_top(k) for k in missing + unexpected} & {'decode_head', 'auxiliary_head'}:
        hints.append('another model variant (e.g. G-D vs D-D) or size: use the config the '
                      'checkpoint was trained with')
    return hints + _architecture_hints(expected, given, missing, unexpected)


def _architecture_hints(expected: Mapping[str, Tensor], given: Mapping[str, Any],
                        missing: List[str], unexpected: List[str]) -> List[str]:
    """DINOv2 / DINOv3 architecture mismatches, for a bare backbone ('') or a segmentor's
    ('backbone.')."""
    prefix = next((p for p in ('', 'backbone.') if f'{p}cls_token' in expected), None)
    if prefix is None:
        return []
    if f'{prefix}rope_embed.periods' in expected:  # DINOv3: no registers, no position table
        sizes = ('vits16 / vits16plus 384, vitb16 768, vitl16 / vitl16plus 1024, vith16plus '
                 '1280, vit7b16 4096')
    else:
        sizes = 'vits14 384, vitb14 768, vitl14 1024, vitg14 1536'
    hints = []
    if f'{prefix}register_tokens' in missing:
        hints.append('the checkpoint has no register tokens: use an arch without "_reg".')
    if f'{prefix}register_tokens' in unexpected:
        hints.append('the checkpoint has register tokens: use a "_reg" arch.')
    dims = [t.shape[-1] if isinstance(t, Tensor) else None
            for t in (given.get(f'{prefix}cls_token'), expected[f'{prefix}cls_token'])]
    pos = [t.shape[1] if isinstance(t, Tensor) and t.dim() > 1 else None
           for t in (given.get(f'{prefix}pos_embed'), expected.get(f'{prefix}pos_embed'))]
    if None not in dims and dims[0] != dims[1]:
        # a whole-architecture mismatch: say so first, the key listing is then all of them
        hints.append(f"the checkpoint's embedding dim is {dims[0]}, the model's {dims[1]}: "
                     f'another ViT size ({sizes}): set the arch to match the checkpoint.')
    elif None not in pos and pos[0] != pos[1]:
        hints.append('pos_embed is stored at the img_size / patch_size grid (official: '
                     '518 / 14 = 37x37): set img_size accordingly.')
    blocks = [{int(k[len(prefix):].split('.')[1]) for k in keys
               if k.startswith(f'{prefix}blocks.')} for keys in (given, expected)]
    if all(blocks) and len(blocks[0]) != len(blocks[1]):
        hints.append(f'the checkpoint has {len(blocks[0])} blocks, the model '
                     f'{len(blocks[1])}: set num_layers / the arch to match.')
    return hints


def match_state_dict(expected: Union[nn.Module, Mapping[str, Tensor]],
                     given: Mapping[str, Any], *, checkpoint: str, target: str,
                     what: str = 'checkpoint', allow_unexpected: bool = False,
                     within: Optional[Sequence[str]] = None,
                     advice: Optional[str] = None, hints: Sequence[str] = ()) -> None:
    """Raise :class:`CheckpointMismatchError` unless ``given`` has exactly the keys and
    shapes of ``expected`` (a model or its state dict).

    Args:
        checkpoint: the file (or source) named in the message.
        target: what it was matched to, e.g. ``'the model of configs/uem/x.py'``.
        what: how the file is named ('checkpoint', 'stage-1 checkpoint', ...).
        allow_unexpected: keys of ``given`` outside ``expected`` are not a mismatch by
            themselves; they are still listed when something else is wrong.
        within: only unexpected keys under these prefixes count (the stage-1 hand-over
            reads the stage-1 modules of a file that may hold more: a UEM, a stock
            auxiliary head).
        advice: a last line in parentheses (what a tool's option would do instead).
        hints: the caller's own hint lines, before the generic ones (e.g. the DINOv3 arch
            that fits the file).
    """
    if isinstance(expected, nn.Module):
        expected = expected.state_dict()
    missing, unexpected, bad_shapes = state_dict_mismatch(expected, given)
    if within is not None:
        unexpected = [k for k in unexpected if k.startswith(tuple(within))]
    if not (missing or bad_shapes or (unexpected and not allow_unexpected)):
        return
    raise CheckpointMismatchError(
        what=what, checkpoint=checkpoint, target=target, num_expected=len(expected),
        missing=missing, unexpected=unexpected, bad_shapes=bad_shapes,
        hints=[*hints, *mismatch_hints(expected, given, missing, unexpected, bad_shapes)],
        advice=advice)


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
        numel = math.prod(shape)
        if dtype is None or not 0 <= start <= end <= len(body) or \
                end - start != numel * torch.empty((), dtype=dtype).element_size():
            raise ValueError(f'{path}: tensor {name!r} has an unsupported dtype '
                             f'{info.get("dtype")!r} or inconsistent offsets / shape')
        flat = torch.frombuffer(bytearray(body[start:end]), dtype=dtype) if numel else \
            torch.empty(0, dtype=dtype)
        out[name] = flat.reshape(shape)
    return out
