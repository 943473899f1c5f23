"""The two-stage encoder-decoder that emits a per-pixel anomaly map.

Shape key: B batch, K inlier classes, H x W image, h x w window.

Stage 1 trains the inlier decode head (``GMMHead`` or ``LinearDecoderHead``) on
the frozen backbone. Stage 2 freezes all of stage 1 (parameters, buffers and
BatchNorm statistics: the frozen modules are kept in eval mode) and trains only
the Unknown Estimation Module (``auxiliary_head=dict(type='UEMHead')``).

Stage 1 may also be any stock mmseg ``EncoderDecoder`` and its released checkpoint
(SegFormer, DeepLabV3+, PSPNet, ...): F is then the stock decode head's logits, computed
and resized exactly as mmseg's ``EncoderDecoder`` does, so the stock predictions stay
bitwise unchanged. What cannot be wrapped is refused by name when the model is built
(:func:`check_stock_parts`).

The outlier supervision of the other methods (PEBAL, RbA: paper Table 4) is a stage-1
model started from a stage-1 checkpoint (``stage1_checkpoint``) that retrains part of
the inlier network (``trainable_modules``) with their losses; it changes the inlier
predictions, which stage 2 never does.

At test time the inlier scores F (B, K, H, W) and the UEM scores O (B, 2, H, W)
are averaged over sliding windows *first*; the anomaly score (LLR by default)
is formed afterwards at the original image size and stored in each data sample
as ``pred_anomaly_score`` (``PixelData`` of shape (1, H, W), higher = more
anomalous), next to mmseg's usual ``pred_sem_seg`` and ``seg_logits`` (F only) and,
with a UEM, ``uem_logits`` (O, (2, H, W)), from which ``UEMTTAModel`` forms the score of
the averaged views.
"""
import math
import warnings
from typing import List, Optional, Sequence, Tuple

import torch
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmseg.models.segmentors import EncoderDecoder
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import ConfigType, OptConfigType, OptMultiConfig, OptSampleList, SampleList
from torch import Tensor, nn

from ...utils.keys import check_keys
from ..backbones import FrozenBackbone, ViTBackbone
from ..utils.checks import deferred_checks, running_stats_kept_on_error
from ..utils.freeze import freeze, keep_frozen
from ..utils.postprocess import prediction_fields, restore_original_size
from ..utils.scores import check_score_mode
from ..utils.sliding_window import slide_average
from .stage1 import load_stage1
from .stock import check_decode_head, check_segmentor_cfg, drop_pretrained

#: what ``test_cfg`` may hold: mmseg's ``EncoderDecoder`` keys, then ours
TEST_CFG_KEYS = ('mode', 'crop_size', 'stride', 'score', 'batch_windows')
#: what ``train_cfg`` may hold (mmseg's ``EncoderDecoder`` reads no key of it)
TRAIN_CFG_KEYS = ('check_values', )


@MODELS.register_module()
class UEMEncoderDecoder(EncoderDecoder):
    """Encoder-decoder with an Unknown Estimation Module and anomaly scores.

    Args:
        stage: 1 trains the inlier decode head; 2 trains only the UEM
            (``auxiliary_head``) with everything of stage 1 frozen.
        stage1_checkpoint: the stage-1 checkpoint, or the work dir of the stage-1 run (its
            latest checkpoint), whose backbone, neck and decode head are loaded in
            :meth:`init_weights`, i.e. before any training step
            (:func:`~mmseg_uem.models.segmentors.stage1.load_stage1`). Needed in stage 2;
            in stage 1 it makes the run a fine-tuning of that network. A missing or
            mismatching file is an error naming it. A stock mmseg model's released
            checkpoint is one (its auxiliary head is not read).
        trainable_modules: stage 1 only: names of the modules that train (as in
            ``named_modules()``, e.g. ``['decode_head.conv_seg']``); every other
            parameter is frozen and every module without a trainable part is kept in
            eval mode. None: every parameter that its module does not freeze trains.
        train_cfg: ``check_values`` (default True): the heads' checks of label values
            and of NaN / inf scores are read back with one host synchronisation at the
            end of each training forward pass (before the backward pass, the GMM memory
            update and the optimizer step); False skips them, leaving no host
            synchronisation in the step (out-of-set labels are then ignored unreported;
            non-finite embeddings still never enter the GMM memories).
        test_cfg: mmseg's keys (``mode='whole'|'slide'``, ``crop_size``,
            ``stride``) plus ``score`` (``'LLR'`` with a UEM, else ``'ID'``;
            see :func:`~mmseg_uem.models.utils.scores.anomaly_score`) and
            ``batch_windows`` (sliding windows per forward pass, default 8;
            1 reproduces mmseg's one-window loop).
            An unknown key in either is an error naming it and the valid ones (a misspelt
            ``--cfg-options model.test_cfg.scor=ID`` would otherwise go unread).
    """

    def __init__(self,
                 backbone: ConfigType,
                 decode_head: ConfigType,
                 *,
                 auxiliary_head: OptConfigType = None,
                 stage: int = 1,
                 stage1_checkpoint: Optional[str] = None,
                 trainable_modules: Optional[Sequence[str]] = None,
                 neck: OptConfigType = None,
                 train_cfg: OptConfigType = None,
                 test_cfg: OptConfigType = None,
                 data_preprocessor: OptConfigType = None,
                 pretrained: Optional[str] = None,
                 init_cfg: OptMultiConfig = None,
                 num_stages: Optional[int] = None):
        # num_stages is accepted only to refuse CascadeEncoderDecoder configs by name
        if stage not in (1, 2):
            raise ValueError(f'stage must be 1 or 2, got {stage!r}')
        if stage == 2 and auxiliary_head is None:
            raise ValueError('stage=2 trains the UEM: set auxiliary_head=dict(type="UEMHead", ...)')
        check_segmentor_cfg(decode_head, auxiliary_head, num_stages)
        check_keys(test_cfg, TEST_CFG_KEYS, what='model.test_cfg')
        check_keys(train_cfg, TRAIN_CFG_KEYS, what='model.train_cfg')
        if stage == 2:
            # every stage-1 weight comes from stage1_checkpoint: read (or download) no other
            backbone, dropped = drop_pretrained(backbone)
            decode_head, dropped_head = drop_pretrained(decode_head)
            neck, dropped_neck = drop_pretrained(neck)
            dropped += dropped_head + dropped_neck + ([pretrained] if pretrained else [])
            pretrained = None
            if dropped:
                print_log(f'stage 2: the stage-1 weights come from stage1_checkpoint (training) '
                          f'or from the checkpoint tested; not loading {dropped}',
                          logger='current')
        with warnings.catch_warnings():
            # mmseg 1.2.2's BaseDecodeHead builds every head's loss with its own deprecated
            # build_loss, which warns once per head: nothing a config can change
            warnings.filterwarnings('ignore', message='``build_loss`` would be deprecated',
                                    category=UserWarning)
            super().__init__(
                backbone=backbone,
                decode_head=decode_head,
                neck=neck,
                auxiliary_head=auxiliary_head,
                train_cfg=train_cfg,
                test_cfg=test_cfg,
                data_preprocessor=data_preprocessor,
                pretrained=pretrained,
                init_cfg=init_cfg)
        check_decode_head(self.decode_head)
        self.stage = stage
        self.stage1_checkpoint = stage1_checkpoint
        # F (K channels) and, with a UEM, O (2 channels) travel together through
        # slide inference and mmseg's un-padding / un-flipping / resizing.
        self.num_uem_channels = 2 if self.with_auxiliary_head else 0
        self.out_channels = self.decode_head.out_channels + self.num_uem_channels
        # mmseg reads test_cfg by attribute (test_cfg.mode, .stride, .crop_size)
        self.test_cfg = ConfigDict(test_cfg if test_cfg is not None else dict(mode='whole'))
        from ..decode_heads.gmm_head import GMMHead
        if self.score == 'RbA' and isinstance(self.decode_head, GMMHead):
            # RbA sums tanh over class logits: it assumes a linear head's bounded-at-inliers
            # logits. F of a GMM head are normalised log-likelihoods, for which tanh saturates
            # alike at inliers and outliers (measured AP 2.01 for 3.6% positives)
            warnings.warn('test_cfg.score=RbA assumes the logits of a linear (D) inlier head; '
                          f'with {type(self.decode_head).__name__} (GMM class scores) it scores '
                          'near or below chance: use a D head, or ID / MSP / Energy',
                          stacklevel=2)
        if stage == 2:
            if trainable_modules is not None:
                raise ValueError('trainable_modules is for stage 1 (fine-tuning); stage 2 '
                                 'trains the UEM (auxiliary_head) only')
            self._freeze_stage1()
        self.trainable_modules = None if trainable_modules is None else list(trainable_modules)
        self._frozen_modules = [] if trainable_modules is None else \
            self._freeze_all_but(self.trainable_modules)

    @property
    def score(self) -> str:
        """Anomaly score of ``test_cfg.score`` (read at every prediction, so it can be
        changed on a built model); default 'LLR' with a UEM, else 'ID'."""
        score = self.test_cfg.get('score', 'LLR' if self.with_auxiliary_head else 'ID')
        return check_score_mode(score, with_uem=self.with_auxiliary_head,
                                what='test_cfg.score')

    # ------------------------------------------------------------------ stages
    @property
    def stage1_modules(self) -> List[nn.Module]:
        modules = [self.backbone, self.decode_head]
        if self.with_neck:
            modules.append(self.neck)
        return modules

    def _freeze_stage1(self) -> None:
        freeze(self.stage1_modules)

    def _freeze_all_but(self, names: List[str]) -> List[nn.Module]:
        """Freeze every parameter outside the modules ``names``; return the outermost
        modules that hold no trainable part (kept in eval mode by :meth:`train`)."""
        modules = dict(self.named_modules())
        unknown = [n for n in names if n not in modules or not n]
        if unknown:
            tops = sorted(n for n in modules if n and n.count('.') < 2)
            raise ValueError(f'trainable_modules {unknown} are not modules of the model; '
                             f'some that are: {tops[:30]}')

        def inside(name: str, roots: List[str]) -> bool:
            return any(name == r or name.startswith(r + '.') for r in roots)

        for name, param in self.named_parameters():
            if not inside(name.rpartition('.')[0], names):
                param.requires_grad = False
        frozen = []
        for name, module in modules.items():
            if not name or inside(name, names) or any(inside(t, [name]) for t in names):
                continue  # the model itself, a trainable module, or an ancestor of one
            if not inside(name, [f for f, _ in frozen]):
                frozen.append((name, module))
        return [module for _, module in frozen]

    def train(self, mode: bool = True) -> 'UEMEncoderDecoder':
        """Keep frozen stage-1 modules in eval mode (no BatchNorm statistic,
        GMM memory or EM step may move in stage 2), and in stage 1 the modules
        outside ``trainable_modules``."""
        super().train(mode)
        if self.stage == 2:
            keep_frozen(self.stage1_modules)
        keep_frozen(self._frozen_modules)
        return self

    def init_weights(self) -> None:
        super().init_weights()
        if self.stage == 2 or self.stage1_checkpoint is not None:
            self.load_stage1()

    def load_stage1(self) -> str:
        """Load backbone, neck and decode head from ``stage1_checkpoint``
        (:func:`~mmseg_uem.models.segmentors.stage1.load_stage1`); returns the file read."""
        return load_stage1(self, self.stage1_checkpoint)

    # --------------------------------------------------------------- training
    @property
    def pad_stride(self) -> Optional[int]:
        """Stride whose multiples this project's ViT backbones zero-pad the input up to
        (their grids cover the padded image); None for stock mmseg backbones, whose maps
        mmseg resizes straight to the input (kept so, for bitwise-equal predictions)."""
        if isinstance(self.backbone, (ViTBackbone, FrozenBackbone)):
            return self.backbone.patch_size
        return None

    @property
    def min_patches(self) -> int:
        """Fewest patches a side the model predicts (ViT backbones; 0 for stock ones): the
        pixel decoder halves the patch grid (rounding down), so 2; 4 if it normalises that
        level with one channel per group (a GroupNorm needs more than one value)."""
        if not self.pad_stride:
            return 0
        single = any(isinstance(m, nn.GroupNorm) and m.num_groups == m.num_channels
                     for m in self.decode_head.modules())
        return 4 if single else 2

    @property
    def min_input_size(self) -> int:
        """Smallest height and width (pixels, after the test pipeline) the model predicts:
        :attr:`min_patches` patches, the last one zero-padded; 1 for stock backbones."""
        return (self.min_patches - 1) * self.pad_stride + 1 if self.pad_stride else 1

    def inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """mmseg's whole / slide inference, after refusing an image below
        :attr:`min_input_size` with an error naming it (the network would fail deep inside
        the pixel decoder)."""
        need = self.min_input_size
        if min(inputs.shape[2:]) < need:
            name = (batch_img_metas[0] if batch_img_metas else {}).get('img_path') or 'input'
            height, width = inputs.shape[2:]
            raise ValueError(
                f'image {name} is {height}x{width} pixels (after the test pipeline); this '
                f'model needs at least {need}x{need} ({self.min_patches} x '
                f'{self.min_patches} patches of {self.pad_stride} px, the last one padded)')
        return super().inference(inputs, batch_img_metas)

    def loss(self, inputs: Tensor, data_samples: SampleList) -> dict:
        patch = self.pad_stride
        if patch and _covered_size(inputs.shape[2:], patch) != tuple(inputs.shape[2:]):
            # the heads resize their maps to the label size: maps that cover the backbone's
            # zero padding would be stretched over the image, misaligned with the labels
            raise ValueError(
                f'training inputs {tuple(inputs.shape[2:])} are not multiples of the '
                f'backbone patch size {patch}: pad them (data_preprocessor size=... or '
                f'size_divisor={patch}, seg_pad_val=void)')
        # the heads' label and non-finite checks are read back once, at the end; a step they
        # stop leaves the BatchNorm running statistics as they were
        check = (self.train_cfg or {}).get('check_values', True)
        with running_stats_kept_on_error(self, enabled=check), deferred_checks(enabled=check):
            if self.stage == 1:  # the backbone runs once per step
                return self._decode_head_forward_train(self.extract_feat(inputs), data_samples)
            # Stage 2: backbone and neck are frozen, eval-mode functions of the input (no
            # graph: a stock backbone does not run itself under no_grad)
            with torch.no_grad():
                x = self.extract_feat(inputs)
            return self._auxiliary_head_forward_train(x, data_samples)

    def _auxiliary_head_forward_train(self, inputs: List[Tensor],
                                      data_samples: SampleList) -> dict:
        """Stage-2 losses (``uem.loss_*``) of the UEM from the backbone maps ``inputs``.

        The inlier head is a frozen, eval-mode function of the maps: its scores F are
        computed without autograd and passed to ``UEMHead.loss_by_uem``, which needs them
        for the likelihood ratio (mmseg's version calls ``auxiliary_head.loss``)."""
        with torch.no_grad():
            inlier_scores = self.decode_head.forward(inputs)
        losses = self.auxiliary_head.loss_by_uem(inputs, inlier_scores, data_samples,
                                                 self.train_cfg)
        return {f'uem.{k}': v for k, v in losses.items()}

    # -------------------------------------------------------------- inference
    def encode_decode(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """(B, 3, h, w) -> (B, K [+ 2], h, w) float32: F and, with a UEM, O, upsampled
        bilinearly to the input size.

        DINOv2 / DINOv3 zero-pad h, w up to multiples of the patch size p, so their feature
        grid covers the padded image: the maps are resized to the padded size and the
        padding is cropped (resizing straight to h x w would shift every pixel by up to
        p / 2)."""
        x = self.extract_feat(inputs)
        outs = [self.decode_head.forward(x)]
        if self.with_auxiliary_head:
            outs.append(self.auxiliary_head.forward(x))
        height, width = inputs.shape[2:]
        covered = _covered_size((height, width), self.pad_stride)
        outs = [resize(o.float(), size=covered, mode='bilinear', align_corners=self.align_corners)
                for o in outs]
        return torch.cat(outs, dim=1)[:, :, :height, :width]

    def slide_inference(self, inputs: Tensor, batch_img_metas: List[dict]) -> Tensor:
        """Sliding windows (mmseg's grid), ``test_cfg.batch_windows`` positions at a time.

        Windows of all images in the batch share one size, so they stack; the grid, the
        position-major order (the B images of each grid position together, as mmseg's loop:
        ``batch_windows`` equal to the batch size, e.g. 1 in the test loops, runs exactly
        mmseg's one-position loop, bitwise for a stock model) and the averaging are
        :func:`~mmseg_uem.models.utils.sliding_window.slide_average`.
        """
        chunk = int(self.test_cfg.get('batch_windows', 8))
        if chunk < 1:
            raise ValueError(f'test_cfg.batch_windows must be >= 1, got {chunk}')

        def forward_windows(crops: Tensor, images: List[int]) -> Tensor:
            metas = [dict(batch_img_metas[b], img_shape=crops.shape[2:]) for b in images]
            return self.encode_decode(crops, metas)

        return slide_average(inputs, forward_windows, crop_size=self.test_cfg.crop_size,
                             stride=self.test_cfg.stride, batch_windows=chunk)

    def postprocess_result(self, seg_logits: Tensor,
                           data_samples: OptSampleList = None) -> SampleList:
        """Un-pad, un-flip and resize F and O to the original size, then form
        the anomaly score there (scores are nonlinear: resizing them afterwards
        would differ)."""
        batch_size = seg_logits.shape[0]
        score_mode = self.score
        only_prediction = data_samples is None
        if only_prediction:
            data_samples = [SegDataSample() for _ in range(batch_size)]
        for i in range(batch_size):
            logits = seg_logits[i:i + 1]
            if not only_prediction:
                logits = restore_original_size(logits, data_samples[i].metainfo,
                                               align_corners=self.align_corners,
                                               num_classes=self.decode_head.out_channels)
            data_samples[i].set_data(prediction_fields(
                logits, num_classes=self.decode_head.out_channels, score=score_mode))
        return data_samples

    def _forward(self, inputs: Tensor, data_samples: OptSampleList = None) -> Tensor:
        """Raw network output: F and O concatenated at the input size."""
        return self.encode_decode(inputs, [])


def _covered_size(size: Sequence[int], patch: Optional[int]) -> Tuple[int, int]:
    """Image size rounded up to whole patches (the area the backbone's grid covers)."""
    if not patch:
        return tuple(size)
    return tuple(math.ceil(s / patch) * patch for s in size)
