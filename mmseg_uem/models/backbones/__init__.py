from .dinov2 import DEFAULT_OUT_INDICES, DINOv2
from .dinov2_converter import convert_dinov2_state_dict
from .frozen import FrozenBackbone

__all__ = ['DINOv2', 'DEFAULT_OUT_INDICES', 'FrozenBackbone', 'convert_dinov2_state_dict']
