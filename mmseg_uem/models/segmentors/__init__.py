from .uem_encoder_decoder import UEMEncoderDecoder
from .uem_tta import UEMTTAModel

__all__ = ['UEMEncoderDecoder', 'UEMTTAModel']
