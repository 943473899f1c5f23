"""Freezing a module: what "frozen" means everywhere in the project.

A frozen module (the DINOv2 backbone, ``FrozenBackbone``'s inner backbone, all of stage 1 in
stage 2) has no parameter that requires grad and stays in eval mode, so no BatchNorm
statistic, dropout mask, drop path or GMM memory moves. :func:`freeze` is called once; the
``train()`` that the Runner calls at every train / val switch keeps the frozen part in eval
mode (``DINOv2`` and ``FrozenBackbone`` pass ``mode=False`` on, ``UEMEncoderDecoder`` calls
:func:`keep_frozen` on stage 1).
"""
from typing import Iterable

from torch import nn


def freeze(modules: Iterable[nn.Module]) -> None:
    """No gradient for any parameter of ``modules``, and eval mode."""
    for module in modules:
        module.requires_grad_(False)
        module.eval()


def keep_frozen(modules: Iterable[nn.Module]) -> None:
    """Back to eval mode after an ``nn.Module.train()`` switched ``modules`` to train mode."""
    for module in modules:
        module.eval()
