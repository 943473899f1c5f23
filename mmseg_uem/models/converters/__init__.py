"""Key converters from published checkpoints to this package's models (pure functions)."""
from .uem_official import (
    VARIANTS,
    Conversion,
    convert_uem_official_checkpoint,
    convert_uem_official_state_dict,
    detect_variant,
)

__all__ = ['VARIANTS', 'Conversion', 'convert_uem_official_checkpoint',
           'convert_uem_official_state_dict', 'detect_variant']
