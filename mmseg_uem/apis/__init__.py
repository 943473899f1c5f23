"""The application layer. ``UEMInferencer`` (mmseg's ``MMSegInferencer`` with anomaly maps,
registered) and the per-image outputs every prediction front end writes (``outputs``) are
imported here; what ``tools/`` share is imported by them only: command-line arguments and
config edits (``cli``), pre-flight checks of the files a run needs (``preflight``) and building
and closing a run (``launch``). The demo is an application: ``tools/demo/``.
"""
from .inferencer import UEMInferencer, images_per_second, list_images
from .outputs import (
    IMAGE_SUFFIXES,
    collect_images,
    input_name,
    output_names,
    save_picture,
    save_prediction_maps,
    skipped_note,
    write_prediction,
)

__all__ = [
    'IMAGE_SUFFIXES', 'UEMInferencer', 'images_per_second', 'list_images', 'input_name',
    'collect_images', 'output_names', 'skipped_note', 'save_picture', 'save_prediction_maps',
    'write_prediction'
]
