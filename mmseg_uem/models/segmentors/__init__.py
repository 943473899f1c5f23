from .uem_encoder_decoder import UEMEncoderDecoder, window_grid
from .uem_tta import UEMTTAModel

__all__ = ['UEMEncoderDecoder', 'UEMTTAModel', 'window_grid']
