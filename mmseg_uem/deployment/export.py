"""ONNX export of one window of a ``UEMEncoderDecoder`` (``tools/deployment/pytorch2onnx.py``).

Shape key: B batch, K inlier classes, h x w window.

Exporter: torch's ``torch.export``-based exporter (``dynamo=True``, the default since torch
2.9, translating through onnxscript). The TorchScript exporter (``dynamo=False``) cannot take
DINOv2's position-embedding resize (bicubic with a scale factor, or with antialias for the
register models); the ``torch.export`` one translates it and folds it into a constant, since
it depends on the window size only.

Everything the runner needs besides the weights travels in the file's metadata (key
``METADATA_KEY``, JSON): preprocessing, test pipeline, window and stride, score, classes.
"""
import json
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

from ..models.segmentors.checkpoint import check_segmentor_checkpoint
from ..models.segmentors.uem_encoder_decoder import UEMEncoderDecoder
from ..utils.checkpoint import read_checkpoint
from ..utils.config import strip_annotation_loading
from ..version import __version__
from .wrapper import INPUT_NAME, UEMExportWrapper, output_names

METADATA_KEY = 'mmseg_uem'
METADATA_VERSION = 1
#: opsets the exporter writes directly (torchlib is written for 18; 23 is torch's maximum)
OPSETS = tuple(range(18, 24))
DEFAULT_OPSET = 20  # torch 2.14's default


def load_segmentor(config: str, checkpoint: str, *,
                   cfg_options: Optional[dict] = None) -> Tuple[UEMEncoderDecoder, Config, dict]:
    """Build the config's ``UEMEncoderDecoder`` and load a checkpoint into it, strictly.

    The checkpoint is read by :func:`~mmseg_uem.utils.checkpoint.read_checkpoint`
    (``weights_only``, mmengine's own objects allowed) and matched by
    :func:`~mmseg_uem.models.segmentors.checkpoint.check_segmentor_checkpoint`: every key
    and shape must match the config's model, else a
    :class:`~mmseg_uem.utils.checkpoint.CheckpointMismatchError` names both files and the
    differing keys. The stage-1 checkpoint of a stage-2 config is not read: the checkpoint
    holds all weights.

    Returns:
        The model in eval mode, the config and the checkpoint's ``meta`` (may be empty).
    """
    import mmseg_uem  # noqa: F401  (registers the modules; allows mmengine checkpoints)

    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    if cfg.model.get('type') != 'UEMEncoderDecoder':
        raise ValueError(f'{config}: model.type is {cfg.model.get("type")!r}; the ONNX export '
                         'takes a UEMEncoderDecoder config (configs/uem/...)')
    model = MODELS.build(cfg.model)  # no init_weights: nothing pretrained is read
    ckpt = read_checkpoint(checkpoint)
    state = check_segmentor_checkpoint(model, ckpt, path=checkpoint,
                                       target=f'the model of {config}')
    model.load_state_dict(state, strict=True)
    meta = ckpt.get('meta', {})
    return model.eval(), cfg, meta if isinstance(meta, dict) else {}


def check_window(model: UEMEncoderDecoder, shape: Sequence[int]) -> Tuple[int, int]:
    """The window (h, w) as ints, refused unless whole patches of the backbone and at least
    2 x 2 of them (the pixel decoder max-pools the patch grid once)."""
    if len(shape) != 2 or any(int(s) != s or s < 1 for s in shape):
        raise ValueError(f'window shape must be two positive ints (H W), got {list(shape)}')
    height, width = int(shape[0]), int(shape[1])
    patch = model.pad_stride
    if patch:
        if height % patch or width % patch:
            def near(s: int) -> str:
                low = s // patch * patch
                return f'{low} or {low + patch}' if low else f'{patch}'

            raise ValueError(
                f'window {height}x{width} is not a multiple of the backbone patch size {patch}'
                f': the exported graph would hold the padding; use H in {near(height)}, '
                f'W in {near(width)}')
        if height < 2 * patch or width < 2 * patch:
            raise ValueError(f'window {height}x{width} is under 2 x 2 patches of {patch} px')
    return height, width


def default_window(cfg: Config) -> Optional[Tuple[int, int]]:
    """The window the config infers with: ``test_cfg.crop_size`` for 'slide', else the
    preprocessor's fixed ``size`` (None if neither is set)."""
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        return tuple(test_cfg['crop_size'])
    size = (cfg.model.get('data_preprocessor') or {}).get('size')
    return tuple(size) if size else None


def deploy_metadata(cfg: Config, model: UEMEncoderDecoder, *, window: Sequence[int],
                    outputs: str, batch_size: Optional[int], dynamic_size: bool = False,
                    dataset_meta: Optional[dict] = None, **extra) -> dict:
    """What the runner reads from the ONNX file besides the graph.

    ``batch_size`` None means a dynamic batch axis; ``dynamic_size`` an export taking any
    height and width of whole patches (``window`` is then the sliding window of a 'slide'
    config, unused for whole images). ``dataset_meta`` (classes, palette) is
    the checkpoint's, as mmengine stores it. ``extra`` is recorded as given.
    """
    test_cfg = dict(cfg.model.get('test_cfg') or {})
    if test_cfg.get('mode') != 'slide':
        # whole-image configs: one window per image, however the image is padded
        test_cfg = dict(mode='whole', score=test_cfg.get('score'))
    test_cfg['score'] = model.score
    meta = dict(
        format_version=METADATA_VERSION,
        dynamic_size=bool(dynamic_size),
        mmseg_uem=__version__,
        torch=torch.__version__,
        outputs=outputs,
        input_name=INPUT_NAME,
        output_names=list(output_names(outputs, with_uem=model.with_auxiliary_head)),
        num_classes=model.decode_head.out_channels,
        with_uem=model.with_auxiliary_head,
        window=[int(s) for s in window],
        patch_size=model.pad_stride,  # the runner pads whole images as the backbone does
        min_patches=model.min_patches,  # the smallest image a dynamic-size file takes
        batch_size=batch_size,
        test_cfg=test_cfg,
        align_corners=bool(model.align_corners),
        data_preprocessor=_plain(cfg.model.get('data_preprocessor') or {}),
        test_pipeline=inference_pipeline(cfg),
        dataset_meta=_plain({k: dataset_meta[k] for k in ('classes', 'palette')
                             if k in dataset_meta}) if dataset_meta else None,
    )
    meta.update(_plain(extra))
    return meta


def inference_pipeline(cfg: Config) -> List[dict]:
    """The config's test pipeline without the annotation loaders
    (:func:`~mmseg_uem.utils.config.strip_annotation_loading`: images need no labels)."""
    dataloader = cfg.get('test_dataloader') or {}
    pipeline = cfg.get('test_pipeline') or (dataloader.get('dataset') or {}).get('pipeline')
    if not pipeline:
        raise ValueError('the config has no test_pipeline nor test_dataloader.dataset.pipeline:'
                         ' the runner would not know how to load images')
    return [_plain(t) for t in strip_annotation_loading(pipeline)]


def export_onnx(model: UEMEncoderDecoder, path: str, *, window: Sequence[int],
                outputs: str = 'maps', batch_size: int = 1, dynamic_batch: bool = False,
                dynamic_size: bool = False, opset: int = DEFAULT_OPSET,
                metadata: Optional[dict] = None):
    """Export one (B, 3, h, w) window to ``path``, check it with ``onnx.checker``, return the
    ``onnx.ModelProto``.

    Args:
        model: the segmentor (eval mode is set here).
        window: (h, w), whole patches (:func:`check_window`).
        outputs: 'maps' or 'scores' (:class:`UEMExportWrapper`).
        batch_size: B of a static batch axis (ignored with ``dynamic_batch``).
        dynamic_batch: a symbolic batch axis.
        dynamic_size: symbolic height and width, each any multiple of the backbone patch of
            at least 2 patches (``window`` is then the size traced); the DINOv2 position
            embeddings are interpolated in the graph instead of folded to one grid.
        opset: ONNX opset, one of ``OPSETS``.
        metadata: stored as JSON under ``METADATA_KEY`` (:func:`deploy_metadata`).
    """
    import onnx

    if opset not in OPSETS:
        raise ValueError(f'opset {opset} not supported: choose one of {list(OPSETS)} '
                         f'(the exporter writes opset >= 18)')
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    height, width = check_window(model, window)
    wrapper = UEMExportWrapper(model, outputs=outputs).eval()
    # torch.export specialises sizes 0 and 1: a dynamic axis is traced at 2
    example = torch.zeros(2 if dynamic_batch else batch_size, 3, height, width)
    axes = {}
    if dynamic_batch:
        axes[0] = torch.export.Dim('batch', min=1)
    if dynamic_size:
        patch = model.pad_stride
        if not patch:
            raise ValueError('a dynamic height and width needs a patch backbone (DINOv2); '
                             'export a fixed window (--shape H W)')
        # whole patches only: the graph holds no padding (the runner pads as the backbone)
        axes[2] = patch * torch.export.Dim('rows', min=2, max=4096 // patch)
        axes[3] = patch * torch.export.Dim('cols', min=2, max=4096 // patch)
    dynamic_shapes = {INPUT_NAME: axes} if axes else None
    with torch.no_grad():
        torch.onnx.export(
            wrapper, (example, ), path, dynamo=True, opset_version=opset,
            input_names=[INPUT_NAME], output_names=list(wrapper.names),
            dynamic_shapes=dynamic_shapes, external_data=False, optimize=True, verbose=False)
    proto = onnx.load(path)
    if metadata is not None:
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
        onnx.save(proto, path)
    onnx.checker.check_model(path, full_check=True)
    return proto


def read_metadata(props: Dict[str, str], *, source: str) -> dict:
    """Our metadata from an ONNX file's string map (``onnx`` metadata_props or
    onnxruntime's ``custom_metadata_map``); an error names the file if it is absent."""
    if METADATA_KEY not in props:
        raise ValueError(f'{source} carries no {METADATA_KEY!r} metadata: export it with '
                         'tools/deployment/pytorch2onnx.py')
    meta = json.loads(props[METADATA_KEY])
    if meta.get('format_version') != METADATA_VERSION:
        raise ValueError(f'{source}: metadata version {meta.get("format_version")}, this '
                         f'runner reads version {METADATA_VERSION}')
    return meta


def _plain(obj):
    """Config values as JSON-ready Python (tuples -> lists, ConfigDict -> dict)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if hasattr(obj, 'tolist'):  # numpy / torch values
        return obj.tolist()
    raise TypeError(f'cannot store {type(obj).__name__} {obj!r} in the ONNX metadata')
