from .dinov2 import DEFAULT_OUT_INDICES, DINOv2
from .dinov2_converter import convert_dinov2_state_dict
from .dinov3 import DINOv3
from .dinov3_converter import convert_dinov3_state_dict
from .frozen import FrozenBackbone
from .vit_backbone import ViTBackbone

__all__ = ['DINOv2', 'DINOv3', 'DEFAULT_OUT_INDICES', 'FrozenBackbone', 'ViTBackbone',
           'convert_dinov2_state_dict', 'convert_dinov3_state_dict']
