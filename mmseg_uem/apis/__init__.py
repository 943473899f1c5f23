"""Inference API: ``UEMInferencer`` (mmseg's ``MMSegInferencer`` with anomaly maps)."""
from .inferencer import IMAGE_SUFFIXES, UEMInferencer, images_per_second, list_images

__all__ = ['IMAGE_SUFFIXES', 'UEMInferencer', 'images_per_second', 'list_images']
