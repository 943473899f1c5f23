from . import backbones, decode_heads, losses, segmentors, utils  # noqa: F401
