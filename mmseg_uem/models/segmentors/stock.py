"""What ``UEMEncoderDecoder`` accepts from a stock mmseg segmentor, and what it refuses.

A stock mmseg model (SegFormer, DeepLabV3+, PSPNet, ...) becomes the stage-1 network by
changing its config's ``type='EncoderDecoder'`` to ``'UEMEncoderDecoder'``, adding
``stage=2``, ``stage1_checkpoint`` (the released checkpoint) and the UEM as
``auxiliary_head``. Then:

- F is the stock decode head's ``forward`` output, resized as mmseg's
  ``BaseDecodeHead.predict_by_feat`` resizes it: this needs one head, a
  :class:`~mmseg.models.decode_heads.decode_head.BaseDecodeHead` whose ``predict`` is
  mmseg's own (``forward`` + resize) and K >= 2 class logits.
- A stock auxiliary head (e.g. DeepLabV3+'s ``FCNHead``) is a training-time loss only:
  mmseg never runs it at test time, so it is not part of the frozen model. It is replaced
  by the UEM, and its checkpoint tensors are left unread.
- ``whole`` and ``slide`` test modes are mmseg's; heads whose logits come at another
  stride (4 for SegFormer / DeepLabV3+, 8 for PSPNet) are resized to the input like
  mmseg does; the UEM's O is resized separately from its own stride.
- In stage 2 every weight of the stage-1 modules comes from ``stage1_checkpoint``, so
  their ``init_cfg`` / ``pretrained`` (mmseg's configs name ImageNet weights by URL) are
  dropped: nothing is read or downloaded for them.
"""
import copy
import os.path as osp
from typing import Any, List, Mapping, Optional, Tuple

from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import nn

from ...utils.keys import check_keys, init_arg_names
from ..decode_heads.uem_head import UEMHead

_SUPPORTED = ('UEMEncoderDecoder wraps a stock EncoderDecoder with one decode head '
              '(SegFormer, DeepLabV3+, PSPNet, UPerNet, FCN, ...)')


def check_segmentor_cfg(decode_head: Any, auxiliary_head: Any,
                        num_stages: Optional[int]) -> None:
    """Refuse, before anything is built, the stock layouts that cannot be wrapped, and
    decode-head keys that the head does not take (named with the valid ones)."""
    if num_stages is not None or isinstance(decode_head, (list, tuple)):
        count = len(decode_head) if isinstance(decode_head, (list, tuple)) else num_stages
        raise ValueError(
            f'CascadeEncoderDecoder (num_stages / a list of {count} decode heads, as in '
            f'OCRNet or PointRend) is not supported: {_SUPPORTED}')
    head_type = decode_head.get('type') if isinstance(decode_head, dict) else None
    cls = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    if isinstance(cls, type):
        check_keys({k: v for k, v in decode_head.items() if k != 'type'},
                   init_arg_names(cls, stop=BaseDecodeHead),
                   what=f'model.decode_head ({cls.__name__})')
    if auxiliary_head is None:
        return
    if isinstance(auxiliary_head, (list, tuple)):
        types = [h.get('type') for h in auxiliary_head]
        raise ValueError(
            f'auxiliary_head is a list {types}: UEMEncoderDecoder takes one auxiliary head, '
            'the UEMHead. A stock model\'s auxiliary heads are training-time losses that mmseg '
            'never runs at test time: replace them with '
            'auxiliary_head=dict(_delete_=True, type="UEMHead", ...)')
    head_type = auxiliary_head.get('type')
    cls = MODELS.get(head_type) if isinstance(head_type, str) else head_type
    if not (isinstance(cls, type) and issubclass(cls, UEMHead)):
        raise ValueError(
            f'auxiliary_head is {head_type!r}: UEMEncoderDecoder\'s auxiliary head is the UEM '
            '(type="UEMHead"). A stock auxiliary head is a training-time loss that mmseg never '
            'runs at test time: replace it with auxiliary_head=dict(_delete_=True, '
            'type="UEMHead", ...)')
    unknown = sorted(set(auxiliary_head) - {'type', '_scope_'}
                     - init_arg_names(cls, stop=BaseDecodeHead))
    if unknown:
        raise ValueError(
            f'auxiliary_head (UEMHead) has keys {unknown} that UEMHead does not take: left '
            'over from the stock auxiliary head it was merged into? Replace that head with '
            'auxiliary_head=dict(_delete_=True, type="UEMHead", ...)')


def stock_model(config: str) -> dict:
    """The ``model`` of a complete mmseg config (model + data + schedule + runtime), alone.

    A UEM config that inherits a complete config *and* the dataset / schedule bases would
    hold their keys twice (mmengine: "Duplicate key is not allowed among bases"). Instead it
    inherits only the data and schedule, and takes the stock model with this (a config file
    may import it; ``{{fileDirname}}`` is the folder of the config being read)::

        _base_ = ['../_base_/datasets/cityscapes_anomalymix.py', ...]
        from mmseg_uem.models.segmentors.stock import stock_model
        model = stock_model('{{fileDirname}}/my_model.py')
        model.update(type='UEMEncoderDecoder', stage=2, ...)

    Returns:
        the config's ``model`` as a plain ``dict`` (its own bases merged in), so that
        ``update`` replaces a key (a stock auxiliary head) instead of merging into it.
    """
    from mmengine.config import Config

    if not isinstance(config, str) or not config.endswith('.py') or not osp.isfile(config):
        raise FileNotFoundError(f'stock model config {config} does not exist (a .py config '
                                'of mmseg, e.g. a copy of its segformer / deeplabv3plus config)')
    cfg = Config.fromfile(config)
    if 'model' not in cfg:
        raise KeyError(f'{config} defines no `model`: stock_model takes the model of a complete '
                       'mmseg config')
    return cfg.model.to_dict()


def stock_auxiliary_keys(model: nn.Module, state: Mapping[str, Any]) -> List[str]:
    """The keys of ``state`` (a checkpoint's state dict) that belong to a stock auxiliary head
    which ``model`` does not have: e.g. DeepLabV3+'s ``FCNHead`` in a model-zoo file scored
    by a ``UEMEncoderDecoder`` with ``auxiliary_head=None``. Such a head is a training-time
    loss that mmseg never runs at test time, so its tensors are not part of the prediction.
    Empty if ``model`` has an auxiliary head, or if the file's is a UEM (``UEMHead`` always
    has ``projector.``): a stage-2 checkpoint in a stage-1 config is a mismatch to report."""
    if getattr(model, 'with_auxiliary_head', False):
        return []
    keys = [k for k in state if k.startswith('auxiliary_head.')]
    if any(k.startswith('auxiliary_head.projector.') for k in keys):
        return []
    return keys


def check_decode_head(head: nn.Module) -> None:
    """Refuse decode heads whose test output is not ``forward``'s per-pixel class logits."""
    name = type(head).__name__
    if not isinstance(head, BaseDecodeHead):
        raise ValueError(
            f'decode head {name} is not an mmseg BaseDecodeHead (mask classification heads '
            'such as Mask2FormerHead / MaskFormerHead give no per-pixel class logits): '
            f'not supported. {_SUPPORTED}')
    for method in ('predict', 'predict_by_feat'):
        if getattr(type(head), method) is not getattr(BaseDecodeHead, method):
            raise ValueError(
                f'decode head {name} overrides BaseDecodeHead.{method} (its test-time output '
                'is not forward()\'s logits resized, e.g. DAHead, EncHead, PointHead): not '
                f'supported. {_SUPPORTED}')
    if head.out_channels < 2:
        raise ValueError(
            f'decode head {name} has out_channels={head.out_channels} (a binary sigmoid head '
            'with a threshold): the anomaly scores need K >= 2 class logits F')


def drop_pretrained(cfg: Any) -> Tuple[Any, List[str]]:
    """A copy of a module config without ``Pretrained`` init / ``pretrained`` entries at any
    depth, and the checkpoints they named (stage 2 loads these modules from stage 1)."""
    dropped: List[str] = []

    def strip(node: Any) -> Any:
        if isinstance(node, (list, tuple)):
            kept = [strip(n) for n in node if not _is_pretrained(n, dropped)]
            return type(node)(kept)
        if not isinstance(node, dict):
            return node
        out = type(node)()
        for key, value in node.items():
            if key == 'pretrained' and isinstance(value, str):
                dropped.append(value)
                value = None
            elif key == 'init_cfg' and _is_pretrained(value, dropped):
                value = None
            out[key] = strip(value)
        return out

    return strip(copy.deepcopy(cfg)), dropped


def _is_pretrained(node: Any, dropped: List[str]) -> bool:
    if isinstance(node, dict) and node.get('type') == 'Pretrained':
        dropped.append(str(node.get('checkpoint')))
        return True
    return False
