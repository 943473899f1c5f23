from .abstention_head import AbstentionLinearHead
from .decoder_head import PixelDecoderHead
from .gmm_classifier import GMMClassifier
from .gmm_head import GMMHead
from .linear_head import LinearDecoderHead
from .pixel_decoder import UEMPixelDecoder
from .uem_head import UEMHead

__all__ = ['AbstentionLinearHead', 'GMMClassifier', 'GMMHead', 'LinearDecoderHead',
           'PixelDecoderHead', 'UEMPixelDecoder', 'UEMHead']
