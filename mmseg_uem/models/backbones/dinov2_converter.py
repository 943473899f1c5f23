"""DINOv2 checkpoint reading and key conversion to the official layout.

The backbone stores parameters under the official facebookresearch/dinov2 names
(``cls_token``, ``pos_embed``, ``register_tokens``, ``mask_token``, ``patch_embed.proj.*``,
``blocks.{i}.{norm1,attn.qkv,attn.proj,ls1.gamma,norm2,mlp.fc1,mlp.fc2,ls2.gamma}.*``, giant
``blocks.{i}.mlp.{w12,w3}.*``, ``norm.*``). :func:`convert_dinov2_state_dict` is a pure
function that brings the other layouts found in the wild to those names:

- wrappers: ``{'state_dict': ...}`` (mmengine/Lightning), ``{'model': ...}``,
  ``{'teacher': ...}`` (DINOv2 training checkpoints), and key prefixes ``module.`` (DDP) and
  ``backbone.`` (only the backbone's keys are kept; heads are dropped);
- block chunks: ``blocks.{chunk}.{i}.`` -> ``blocks.{i}.`` (FSDP-chunked training checkpoints
  keep the global block index ``i``);
- mmpretrain 1.x ``VisionTransformer`` names (its converted DINOv2 weights). mmpretrain keeps
  no ``mask_token`` (unused at inference; DINOv2 uses it only for iBOT masking in training),
  so a zero one is inserted.
"""
import re
from collections.abc import Mapping
from typing import Optional

from torch import Tensor

_WRAPPER_KEYS = ('state_dict', 'model', 'teacher')
_CHUNKED = re.compile(r'^blocks\.\d+\.(\d+)\.')

# mmpretrain name pattern -> official name template (applied after the ``backbone.`` strip)
_MMPRETRAIN_RULES = (
    (re.compile(r'^patch_embed\.projection\.'), 'patch_embed.proj.'),
    (re.compile(r'^layers\.(\d+)\.ln1\.'), r'blocks.\1.norm1.'),
    (re.compile(r'^layers\.(\d+)\.ln2\.'), r'blocks.\1.norm2.'),
    (re.compile(r'^layers\.(\d+)\.attn\.gamma1\.weight$'), r'blocks.\1.ls1.gamma'),
    (re.compile(r'^layers\.(\d+)\.attn\.(qkv|proj)\.'), r'blocks.\1.attn.\2.'),
    (re.compile(r'^layers\.(\d+)\.ffn\.gamma2\.weight$'), r'blocks.\1.ls2.gamma'),
    (re.compile(r'^layers\.(\d+)\.ffn\.layers\.0\.0\.'), r'blocks.\1.mlp.fc1.'),
    (re.compile(r'^layers\.(\d+)\.ffn\.layers\.1\.'), r'blocks.\1.mlp.fc2.'),
    (re.compile(r'^layers\.(\d+)\.ffn\.(w12|w3)\.'), r'blocks.\1.mlp.\2.'),
    (re.compile(r'^ln1\.'), 'norm.'),
)


def _unwrap(checkpoint: Mapping) -> Mapping:
    """Descend through ``state_dict`` / ``model`` / ``teacher`` wrappers."""
    while True:
        inner = next((checkpoint[k] for k in _WRAPPER_KEYS
                      if isinstance(checkpoint.get(k), Mapping)), None)
        if inner is None:
            return checkpoint
        checkpoint = inner


def _strip_prefix(state: dict, prefix: str) -> dict:
    """Keep only the keys under ``prefix``, without it."""
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def backbone_state(checkpoint: Mapping, *, prefix: Optional[str] = None) -> dict:
    """The backbone's keys of a checkpoint: unwrapped (``state_dict`` / ``model`` /
    ``teacher``), then only the keys under ``prefix`` without it; default prefix: strip
    ``module.`` (DDP) if every key has it, then keep ``backbone.*`` if any key has it."""
    if not isinstance(checkpoint, Mapping):
        raise TypeError(f'expected a state dict (mapping), got {type(checkpoint).__name__}')
    state = dict(_unwrap(checkpoint))
    if prefix is not None:
        return _strip_prefix(state, prefix)
    if state and all(k.startswith('module.') for k in state):
        state = _strip_prefix(state, 'module.')
    if any(k.startswith('backbone.') for k in state):
        state = _strip_prefix(state, 'backbone.')
    return state


def is_mmpretrain_layout(state: Mapping) -> bool:
    """True if the (unprefixed) keys are mmpretrain ``VisionTransformer`` names."""
    return any(k.startswith(('layers.', 'patch_embed.projection.', 'ln1.')) for k in state)


def rename_keys(state: Mapping, rules) -> dict:
    """Each key through the first ``(pattern, template)`` rule that matches it; keys no rule
    matches pass through (the strict load reports them)."""
    out = {}
    for key, value in state.items():
        for pattern, template in rules:
            key, count = pattern.subn(template, key)
            if count:
                break
        out[key] = value
    return out


def convert_dinov2_state_dict(checkpoint: Mapping, *,
                              prefix: Optional[str] = None) -> dict[str, Tensor]:
    """Bring a DINOv2 state dict of any supported layout to the official key names.

    Args:
        checkpoint: what ``torch.load`` returned: a state dict or a wrapper around one.
        prefix: keep only the keys under this prefix (e.g. ``'backbone.dinov2.'`` for a UEM
            Lightning checkpoint). Default: strip ``module.``, then keep ``backbone.*`` if
            any key has that prefix.

    Returns:
        A new dict (the input is not modified); values are the same tensor objects, except
        for an inserted zero ``mask_token`` (1, D) on mmpretrain input.
    """
    state = backbone_state(checkpoint, prefix=prefix)
    if is_mmpretrain_layout(state):
        state = rename_keys(state, _MMPRETRAIN_RULES)
        if 'mask_token' not in state and isinstance(state.get('cls_token'), Tensor):
            cls = state['cls_token']
            state['mask_token'] = cls.new_zeros((1, cls.shape[-1]))
    return {_CHUNKED.sub(r'blocks.\1.', k): v for k, v in state.items()}
