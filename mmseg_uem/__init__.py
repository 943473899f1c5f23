"""mmseg-uem: likelihood-ratio OoD segmentation as an MMSegmentation 1.x plugin.

Importing this package registers every module into mmseg's own registries, so a
stock mmseg config only needs::

    custom_imports = dict(imports=['mmseg_uem'], allow_failed_imports=False)
"""
from . import apis, datasets, engine, evaluation, models, visualization  # noqa: F401  (registration)
from .utils.checkpoint import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

__all__ = ['__version__']
