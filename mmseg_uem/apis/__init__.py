"""The application layer. ``UEMInferencer`` (mmseg's ``MMSegInferencer`` with anomaly maps,
registered) and the per-image outputs every prediction front end writes (``outputs``) are
imported here; what ``tools/`` share is imported by them only: command-line arguments and
config edits (``cli``), pre-flight checks of the files a run needs (``preflight``), building
and closing a run (``launch``) and the embedded demo (``demo``).
"""
from .inferencer import IMAGE_SUFFIXES, UEMInferencer, images_per_second, list_images
from .outputs import input_name, save_picture, save_prediction_maps, write_prediction

__all__ = [
    'IMAGE_SUFFIXES', 'UEMInferencer', 'images_per_second', 'list_images', 'input_name',
    'save_picture', 'save_prediction_maps', 'write_prediction'
]
