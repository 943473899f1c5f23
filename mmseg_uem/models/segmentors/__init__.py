from ..utils.sliding_window import window_grid
from .uem_encoder_decoder import (
    UEMEncoderDecoder,
    crop_padding,
    prediction_fields,
    restore_original_size,
    split_maps,
)
from .uem_tta import UEMTTAModel

__all__ = [
    'UEMEncoderDecoder', 'UEMTTAModel', 'crop_padding', 'prediction_fields',
    'restore_original_size', 'split_maps', 'window_grid'
]
