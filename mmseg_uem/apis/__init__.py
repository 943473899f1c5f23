"""Inference API: ``UEMInferencer`` (mmseg's ``MMSegInferencer`` with anomaly maps) and the
per-image outputs every prediction front end writes."""
from .inferencer import IMAGE_SUFFIXES, UEMInferencer, images_per_second, list_images
from .outputs import output_name, save_picture, save_prediction_maps, write_prediction

__all__ = [
    'IMAGE_SUFFIXES', 'UEMInferencer', 'images_per_second', 'list_images', 'output_name',
    'save_picture', 'save_prediction_maps', 'write_prediction'
]
