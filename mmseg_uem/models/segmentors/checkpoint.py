"""A complete segmentor checkpoint matched to the model it is loaded into.

``tools/test.py`` (its pre-flight), the inferencer (``tools/infer.py``) and the ONNX export
read a whole-model checkpoint; all three call :func:`check_segmentor_checkpoint`, so a file
that does not fit gives the same :class:`~mmseg_uem.utils.checkpoint.CheckpointMismatchError`
everywhere. The one tolerance: a stock model's auxiliary head, which the model of a
stock-scoring config leaves out (:func:`~.stock.stock_auxiliary_keys`), is logged as not read.
"""
import logging
from typing import Any, Dict, Mapping, Optional

from mmengine.logging import print_log
from torch import nn

from ...utils.checkpoint import CheckpointMismatchError, match_state_dict, state_dict_of
from .stock import stock_auxiliary_keys


def unwrap_model(model: nn.Module) -> nn.Module:
    """The segmentor inside DDP / TTA wrappers (their ``module``)."""
    from mmengine.model import BaseTTAModel, is_model_wrapper

    while is_model_wrapper(model) or isinstance(model, BaseTTAModel):
        model = model.module
    return model


def check_segmentor_checkpoint(model: nn.Module, checkpoint: Mapping, *, path: str,
                               target: str, strict: bool = True,
                               advice: Optional[str] = None) -> Dict[str, Any]:
    """The state dict of ``checkpoint`` (read from ``path`` by
    :func:`~mmseg_uem.utils.checkpoint.read_checkpoint`) to load into ``model``, checked to
    hold exactly the model's keys and shapes.

    mmengine's ``load_from`` loads non-strictly: keys missing from the file keep their
    initial (random) values, unexpected and mis-shaped ones are skipped, and only a log line
    says so, so a stage-1 checkpoint in a stage-2 config, bare backbone weights or a G-D
    checkpoint in a D-D config would give a believable wrong number. Nearly all of the state
    dict enters the prediction, and what does not at test time (the GMM memory and its
    counters) is part of any complete checkpoint of this model.

    Args:
        model: the built model; a DDP or TTA wrapper is compared through its ``module``.
        checkpoint: the file's content.
        path: the file, named in messages.
        target: what the model is, e.g. ``'the model of configs/uem/x.py'``.
        strict: False logs the mismatch as a warning instead of raising.
        advice: a last line of the error (e.g. the option that tests anyway).

    Raises:
        CheckpointMismatchError: missing, unexpected or mis-shaped keys (``strict``).
    """
    model = unwrap_model(model)
    state = state_dict_of(checkpoint, source=path)
    stock_aux = stock_auxiliary_keys(model, state)
    if stock_aux:
        print_log(f'checkpoint {path}: {len(stock_aux)} tensors of a stock auxiliary head '
                  f'(auxiliary_head.*) not read: a training-time loss that mmseg never runs at '
                  f'test time, and {target} has none', logger='current')
        state = {k: v for k, v in state.items() if not k.startswith('auxiliary_head.')}
    try:
        match_state_dict(model, state, checkpoint=path, target=target,
                         advice=advice if strict else None)
    except CheckpointMismatchError as err:
        if strict:
            raise
        print_log(f'{err}\n  loading anyway: the listed tensors keep their initial values',
                  logger='current', level=logging.WARNING)
    return state
