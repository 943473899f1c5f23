"""onnxruntime runner of an exported UEM window, with the segmentor's own inference path.

Shape key: B batch, K inlier classes, H x W preprocessed image, h x w window,
H0 x W0 original image.

An image goes through the steps of ``UEMEncoderDecoder.predict``, with the network replaced
by the ONNX session: the config's test pipeline (stored in the file, labels not loaded),
mmseg's ``SegDataPreProcessor`` (normalisation, padding), the sliding windows and their
average (:func:`~mmseg_uem.models.utils.sliding_window.slide_average`), the un-padding and
resize of F and O, and the score (:func:`~mmseg_uem.models.utils.postprocess.
prediction_fields`). The result is a list of ``SegDataSample`` with ``pred_sem_seg``,
``seg_logits`` and ``pred_anomaly_score``, as the PyTorch model predicts.
"""
import copy
from typing import List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import Compose
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor

from ..models.utils.postprocess import crop_padding, prediction_fields, restore_original_size
from ..models.utils.scores import check_score_mode
from ..models.utils.sliding_window import slide_average
from ..utils.samples import SCORE_MODE_KEY
from .export import read_metadata

ImageInput = Union[str, np.ndarray]


#: config keys of ``--cfg-options`` -> where the file's metadata keeps them
_CFG_OPTION_PREFIXES = {'model.test_cfg.': 'test_cfg', 'model.data_preprocessor.':
                        'data_preprocessor', 'test_pipeline': 'test_pipeline'}


def apply_cfg_options(meta: dict, cfg_options: Optional[dict], *, source: str) -> dict:
    """``meta`` with ``--cfg-options`` applied to the config it stores: keys
    ``model.test_cfg.<key>`` (checked against the segmentor's test_cfg keys),
    ``model.data_preprocessor.<key>`` and ``test_pipeline``; any other key is an error
    naming the ones an exported file takes."""
    from ..models.segmentors.uem_encoder_decoder import TEST_CFG_KEYS
    from ..utils.keys import check_keys

    meta = copy.deepcopy(meta)
    for key, value in (cfg_options or {}).items():
        if key == 'test_pipeline':
            meta['test_pipeline'] = [dict(t) for t in value]
            continue
        prefix = next((p for p in _CFG_OPTION_PREFIXES if key.startswith(p) and p[-1] == '.'),
                      None)
        if prefix is None:
            raise ValueError(f'--cfg-options {key}: {source} holds an exported network; only '
                             'model.test_cfg.<key>, model.data_preprocessor.<key> and '
                             'test_pipeline can change at run time')
        name = key[len(prefix):]
        section = _CFG_OPTION_PREFIXES[prefix]
        if section == 'test_cfg':
            check_keys({name: value}, TEST_CFG_KEYS, what='model.test_cfg')
        meta[section][name] = value
    return meta


class ONNXSegmentor:
    """An exported model (``tools/deployment/pytorch2onnx.py``) run by onnxruntime.

    Args:
        model: path of the ``.onnx`` file.
        stride: (row, column) step of the sliding windows. Default: the config's
            ``test_cfg.stride`` for a 'slide' config and a 'maps' export; otherwise the
            model runs whole images (``slide`` False), as the config does. Giving a stride
            slides a 'maps' export of a whole-image config too.
        batch_windows: windows per session call; default the exported batch size, or
            the config's ``test_cfg.batch_windows`` (8) for a dynamic batch axis.
        score: anomaly score of a 'maps' export (default the config's ``test_cfg.score``);
            a 'scores' export has its score in the graph.
        providers: onnxruntime execution providers (default CPU).
        num_threads: onnxruntime intra-op threads (default: onnxruntime's).
        cfg_options: overrides of the config stored in the file, as ``--cfg-options``
            (:func:`apply_cfg_options`: ``model.test_cfg.*``, ``model.data_preprocessor.*``,
            ``test_pipeline``).
    """

    def __init__(self, model: str, *, stride: Optional[Sequence[int]] = None,
                 batch_windows: Optional[int] = None, score: Optional[str] = None,
                 providers: Optional[Sequence[str]] = None,
                 num_threads: Optional[int] = None,
                 cfg_options: Optional[dict] = None) -> None:
        import onnxruntime as ort

        import mmseg_uem  # noqa: F401  (registers the project's transforms)

        options = ort.SessionOptions()
        if num_threads:
            options.intra_op_num_threads = num_threads
        self.session = ort.InferenceSession(
            model, options, providers=list(providers or ['CPUExecutionProvider']))
        self.source = model
        self.meta = meta = apply_cfg_options(
            read_metadata(self.session.get_modelmeta().custom_metadata_map, source=model),
            cfg_options, source=model)
        self.outputs = meta['outputs']
        self.num_classes = meta['num_classes']
        self.window = tuple(meta['window'])
        #: any height and width of whole patches (an export with dynamic H and W)
        self.dynamic_size = bool(meta.get('dynamic_size', False))
        self.batch_size = meta['batch_size']  # None: dynamic batch axis
        self.patch_size = meta.get('patch_size')
        test_cfg = meta['test_cfg']
        if stride is not None and self.outputs == 'scores':
            raise ValueError(f'{model} is a scores export (whole images): no stride; export '
                             '--outputs maps for sliding windows')
        if stride is None and test_cfg.get('mode') == 'slide' and self.outputs == 'maps':
            stride = test_cfg['stride']
        #: sliding windows (mmseg's grid, F and O averaged) or one whole image per call
        self.slide = stride is not None
        self.stride = tuple(int(s) for s in stride) if self.slide else None
        if self.slide and (len(self.stride) != 2 or not all(
                1 <= s <= w for s, w in zip(self.stride, self.window))):
            raise ValueError(f'stride {list(stride)} must be two steps in [1, window '
                             f'{list(self.window)}]')
        if batch_windows is None:
            batch_windows = self.batch_size or int(test_cfg.get('batch_windows', 8))
        if self.batch_size is not None and not 1 <= batch_windows <= self.batch_size:
            raise ValueError(f'{model} has a fixed batch of {self.batch_size}: batch_windows '
                             f'must be in [1, {self.batch_size}], got {batch_windows}')
        self.batch_windows = int(batch_windows)
        self.score = self._check_score(score or test_cfg['score'])
        init_default_scope('mmseg')
        self.data_preprocessor = MODELS.build(copy.deepcopy(meta['data_preprocessor']))
        self.pipeline_cfg = meta['test_pipeline']
        self.dataset_meta = meta.get('dataset_meta')

    def _check_score(self, score: str) -> str:
        what = f'score of {self.source}'
        check_score_mode(score, with_uem=True, what=what)  # a known mode
        if self.outputs == 'scores' and score != self.meta['test_cfg']['score']:
            raise ValueError(f'{self.source} computes the score {self.meta["test_cfg"]["score"]}'
                             f' in its graph; export --outputs maps to choose it at run time')
        return check_score_mode(score, with_uem=self.meta['with_uem'], what=what)

    # ---------------------------------------------------------------- the network
    def run(self, images: Tensor) -> List[np.ndarray]:
        """(N, 3, h, w) preprocessed windows -> the graph's outputs for them (numpy), the
        batch padded with zero images to a fixed batch size and the padding dropped."""
        x = np.ascontiguousarray(images.detach().cpu().numpy(), dtype=np.float32)
        n = x.shape[0]
        if self.batch_size is not None and n < self.batch_size:
            x = np.concatenate([x, np.zeros((self.batch_size - n, *x.shape[1:]), x.dtype)])
        outs = self.session.run(self.meta['output_names'], {self.meta['input_name']: x})
        return [out[:n] for out in outs]

    def forward_windows(self, crops: Tensor, images: Optional[List[int]] = None) -> Tensor:
        """(N, 3, h, w) windows -> F and O concatenated (N, K [+ 2], h, w) float32."""
        return torch.from_numpy(np.concatenate(self.run(crops), axis=1))

    # ------------------------------------------------------------------- images
    def preprocess(self, image: ImageInput) -> dict:
        """One image path or (H0, W0, 3) BGR uint8 array -> mmseg's packed inputs, through
        the stored test pipeline (an array enters as ``LoadImageFromNDArray``)."""
        pipeline = copy.deepcopy(self.pipeline_cfg)
        if isinstance(image, np.ndarray):
            if pipeline and pipeline[0]['type'] == 'LoadImageFromFile':
                pipeline[0] = dict(type='LoadImageFromNDArray')
            data = dict(img=image)
        else:
            data = dict(img_path=str(image))
        try:
            return Compose(pipeline)(data)
        except Exception as err:
            name = 'the array' if isinstance(image, np.ndarray) else str(image)
            raise RuntimeError(f'could not load {name}: {type(err).__name__}: {err}') from err

    def predict(self, images: Union[ImageInput, Sequence[ImageInput]]) -> List[SegDataSample]:
        """Images -> data samples with ``pred_sem_seg``, ``seg_logits`` (F; 'maps' exports)
        and ``pred_anomaly_score`` at the original image size."""
        if isinstance(images, (str, np.ndarray)):
            images = [images]
        return [self._predict_one(image) for image in images]

    def _predict_one(self, image: ImageInput) -> SegDataSample:
        packed = self.preprocess(image)
        with torch.no_grad():
            data = self.data_preprocessor(
                dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]), False)
        return self.predict_inputs(data['inputs'], data['data_samples'][0])

    def predict_inputs(self, inputs: Tensor, sample: SegDataSample) -> SegDataSample:
        """One preprocessed image (1, 3, H, W) and its data sample (``img_padding_size``,
        ``ori_shape``) -> the sample with the predictions (``predict`` after the
        preprocessor, as ``UEMEncoderDecoder.predict``)."""
        name = sample.metainfo.get('img_path', 'the array')
        if self.slide:
            size = tuple(inputs.shape[2:])
            if not self.dynamic_size and (size[0] < self.window[0] or size[1] < self.window[1]):
                raise ValueError(f'{name}: the preprocessed image is {size[0]}x{size[1]}, '
                                 f'smaller than the exported window {self.window[0]}x'
                                 f'{self.window[1]}: export with --shape {size[0]} {size[1]}')
            logits = slide_average(inputs, self.forward_windows, crop_size=self.window,
                                   stride=self.stride, batch_windows=self.batch_windows)
        else:
            outs = self.run_whole(inputs, name)
            if self.outputs == 'scores':
                return self._finish_scores(*outs, sample, name)
            logits = torch.cat(outs, dim=1)
        logits = restore_original_size(logits, sample.metainfo,
                                       align_corners=self.meta['align_corners'],
                                       num_classes=self.num_classes)
        sample.set_data(prediction_fields(logits, num_classes=self.num_classes,
                                          score=self.score))
        return sample

    def run_whole(self, inputs: Tensor, name: str) -> List[Tensor]:
        """(1, 3, H, W) -> the outputs at H x W, as ``UEMEncoderDecoder.whole_inference``.

        The segmentor's backbone zero-pads H, W up to whole patches and its maps are
        cropped back: the same is done here around the session, so the window must be
        H, W rounded up to whole patches."""
        height, width = inputs.shape[2:]
        patch = self.patch_size or 1
        need = (-(-height // patch) * patch, -(-width // patch) * patch)
        patches = int(self.meta.get('min_patches') or 2)
        if self.dynamic_size and min(need) < patches * patch:
            least = (patches - 1) * patch + 1
            raise ValueError(f'{name}: the preprocessed image is {height}x{width}; this model '
                             f'needs at least {least}x{least} ({patches} x {patches} patches '
                             f'of {patch} px, the last one padded)')
        if not self.dynamic_size and need != self.window:
            raise ValueError(
                f'{name}: the preprocessed image is {height}x{width}; whole-image inference '
                f'needs a {need[0]}x{need[1]} window (whole patches of {patch}), this file '
                f'has {self.window[0]}x{self.window[1]}: export with --shape {need[0]} '
                f'{need[1]}' + ('' if self.outputs == 'scores' else ', or slide (--stride)'))
        padded = F.pad(inputs, (0, need[1] - width, 0, need[0] - height))
        return [torch.from_numpy(o)[:, :, :height, :width] for o in self.run(padded)]

    def _finish_scores(self, score: Tensor, pred: Tensor, sample: SegDataSample,
                       name: str) -> SegDataSample:
        """A 'scores' export: only the preprocessor's padding is removed (a finished score
        is not resized: the segmentor resizes F and O before the score, as a 'maps' run)."""
        score, pred = crop_padding(score, sample.metainfo), crop_padding(pred, sample.metainfo)
        if tuple(score.shape[2:]) != tuple(sample.metainfo['ori_shape']):
            raise ValueError(f'{name}: the pipeline resizes the image '
                             f'({tuple(sample.metainfo["ori_shape"])} -> '
                             f'{tuple(score.shape[2:])}); a finished score cannot be resized '
                             'as the segmentor resizes F and O: export --outputs maps')
        sample.set_data({'pred_anomaly_score': PixelData(data=score[0].float(),
                                                         metainfo={SCORE_MODE_KEY: self.score}),
                         'pred_sem_seg': PixelData(data=pred[0])})
        return sample
