"""ONNX export of the UEM segmentor and an onnxruntime runner (``pip install -e .[deploy]``).

Nothing else in ``mmseg_uem`` imports this package, and importing it loads neither onnx nor
onnxruntime: they are imported by the functions that use them.
"""
from .export import (
    DEFAULT_OPSET,
    METADATA_KEY,
    OPSETS,
    check_window,
    default_window,
    deploy_metadata,
    export_onnx,
    load_segmentor,
    read_metadata,
)
from .runtime import ONNXSegmentor
from .wrapper import OUTPUTS, UEMExportWrapper, output_names

__all__ = [
    'DEFAULT_OPSET', 'METADATA_KEY', 'ONNXSegmentor', 'OPSETS', 'OUTPUTS', 'UEMExportWrapper',
    'check_window', 'default_window', 'deploy_metadata', 'export_onnx', 'load_segmentor',
    'output_names', 'read_metadata'
]
