from .dinov2 import DEFAULT_OUT_INDICES, DINOv2
from .dinov2_converter import convert_dinov2_state_dict

__all__ = ['DINOv2', 'DEFAULT_OUT_INDICES', 'convert_dinov2_state_dict']
