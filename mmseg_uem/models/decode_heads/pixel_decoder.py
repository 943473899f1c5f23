"""Pixel decoder of the UEM inlier segmentor: ViTDet simple pyramid + FPN + Panoptic-FPN sum.

Shape key: B batch, D ViT feature dim, h x w ViT patch grid (stride 14), E decoder channels,
C_i channels of level i of a hierarchical backbone, h_i x w_i its grid.

Recipe of the official UEM code (``DINOv2FPN`` in NazirNayal8/UEM-likelihood-ratio,
``modeling/modules/dinov2.py``), built from four ViT maps (blocks 1, 4, 8, 11, final
LayerNorm applied):
  x4:  GroupNorm(1, D) -> ConvT 2x2 s2 -> norm -> GELU -> ConvT 2x2 s2   (B, D, 4h, 4w)
  x2:  GroupNorm(1, D) -> ConvT 2x2 s2                                  (B, D, 2h, 2w)
  x1:  GroupNorm(1, D), concatenated with MLP(final tokens) D->512->E   (B, D+E, h, w)
  /2:  GroupNorm(1, D) -> MaxPool 2x2                                   (B, D, h/2, w/2)
then 1x1 laterals to E, top-down nearest-upsample-and-add, 3x3 output convs, and
Panoptic-FPN upsampling heads (level i: max(i, 1) conv3x3-norm-ReLU blocks, the last i of
them followed by a 2x bilinear upsample) summed at the x4 level: (B, E, 4h, 4w), stride 3.5.
The official code uses SyncBN where ``norm_cfg`` is used here (GroupNorm by default, so
that a single-GPU or CPU run needs no conversion; both have 2 parameters per channel, and
the decoder has 14,958,592 parameters for D = 768, E = 256 either way).

``pyramid='none'`` is for hierarchical backbones (Swin: four maps at strides 4/8/16/32 with
channels C_0..C_3, e.g. 128/256/512/1024 for Swin-B), used for the backbone ablation: the
maps already form a pyramid, so the ViTDet levels are skipped and each map goes straight to
its own 1x1 lateral; the MLP of the final map (if any) is concatenated at the final map's
own (coarsest) level, the same FPN and upsample-sum follow, and the output has the finest
map's grid: (B, E, h_0, w_0), stride 4 for Swin.
"""
from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor

PYRAMIDS = ('simple', 'none')


def decoder_in_channels(in_channels: Sequence[int], pyramid: str, *,
                        owner: str) -> Union[int, List[int]]:
    """A decode head's ``in_channels`` -> the ``in_channels`` of its UEMPixelDecoder.

    'simple' needs 4 equal ViT dims and gives D; 'none' needs 4 maps and gives their
    channels. ``owner`` names the head in the error.
    """
    if len(in_channels) != 4:
        raise ValueError(f'{owner} needs 4 backbone maps, got in_channels={list(in_channels)}')
    if pyramid == 'simple':
        if len(set(in_channels)) != 1:
            raise ValueError(f"{owner} needs 4 equal ViT dims with pyramid='simple', got "
                             f"{list(in_channels)} (pyramid='none' is for hierarchical "
                             'backbones)')
        return int(in_channels[0])
    return [int(c) for c in in_channels]


@MODELS.register_module()
class UEMPixelDecoder(BaseModule):
    """FPN decoder from four backbone maps to one map at 4x the finest input resolution.

    With ``pyramid='simple'`` (default, the paper) the inputs are four same-stride ViT maps
    and the output has stride 3.5 (patch 14) or 4 (patch 16); with ``pyramid='none'`` they
    are a hierarchical backbone's four maps and the output has the finest map's grid.

    Args:
        in_channels: 'simple': ViT feature dim D of each of the four input maps (an int);
            'none': the four maps' channels [C_0, C_1, C_2, C_3], finest first.
        channels: output / FPN channels E (256 in the paper).
        pyramid: 'simple' builds the ViTDet pyramid (x4, x2, x1, /2) from the ViT maps;
            'none' takes the four maps as the pyramid levels.
        final_mlp_channels: hidden width of the MLP that projects the final tokens (the last
            input map) to E channels and concatenates them to the x1 level ('simple'; 512 in
            the official code) or to the last level ('none'); None leaves that level as the
            backbone map alone.
        norm_cfg: norm between the two x4 transposed convs and inside the upsampling heads.
        act_cfg: activation of the upsampling heads.
        init_cfg: mmengine init config (None: PyTorch default init, as the official code).
    """

    def __init__(
        self,
        in_channels: Union[int, Sequence[int]],
        channels: int = 256,
        *,
        pyramid: str = 'simple',
        final_mlp_channels: Optional[int] = 512,
        norm_cfg: Optional[dict] = None,
        act_cfg: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg)
        if pyramid not in PYRAMIDS:
            raise ValueError(f'pyramid must be one of {PYRAMIDS}, got {pyramid!r}')
        norm_cfg = dict(type='GN', num_groups=32, requires_grad=True) \
            if norm_cfg is None else norm_cfg
        act_cfg = dict(type='ReLU') if act_cfg is None else act_cfg
        self.pyramid = pyramid
        self.in_channels = in_channels
        self.channels = channels
        if pyramid == 'simple':
            if not isinstance(in_channels, int):
                raise TypeError("pyramid='simple' takes the ViT dim D as an int, got "
                                f'{in_channels!r}')
            level_channels = self._build_simple_pyramid(in_channels, norm_cfg=norm_cfg)
            final_level = 2  # the final tokens' MLP joins the x1 level (their own grid)
        else:
            if isinstance(in_channels, int) or len(in_channels) != 4:
                raise ValueError("pyramid='none' takes the 4 maps' channels [C_0, ..., C_3], "
                                 f'got {in_channels!r}')
            self.in_channels = [int(c) for c in in_channels]
            level_channels = list(self.in_channels)
            final_level = 3  # the final map is the coarsest level itself
        if final_mlp_channels is None:
            self.final_mlp = None
        else:
            # per-token MLP written as 1x1 convs (same weights as nn.Linear on channel-last)
            final_dims = level_channels[3]  # channels of the final map (D for a ViT)
            self.final_mlp = nn.Sequential(
                nn.Conv2d(final_dims, final_mlp_channels, 1), nn.ReLU(inplace=True),
                nn.Conv2d(final_mlp_channels, channels, 1))
            level_channels[final_level] += channels
        self.lateral_convs = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in level_channels)
        self.fpn_convs = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in range(4))
        self.scale_heads = nn.ModuleList()
        for level in range(4):
            blocks = []
            for _ in range(max(level, 1)):
                blocks.append(ConvModule(channels, channels, 3, padding=1,
                                         norm_cfg=norm_cfg, act_cfg=act_cfg))
                if level > 0:
                    blocks.append(nn.Upsample(scale_factor=2, mode='bilinear',
                                              align_corners=False))
            self.scale_heads.append(nn.Sequential(*blocks))

    def _build_simple_pyramid(self, dims: int, *, norm_cfg: dict) -> List[int]:
        """ViTDet levels from four (B, D, h, w) maps; returns their channels [D] * 4."""
        self.up4 = nn.Sequential(
            nn.GroupNorm(1, dims),
            nn.ConvTranspose2d(dims, dims, kernel_size=2, stride=2),
            build_norm_layer(norm_cfg, dims)[1],
            nn.GELU(),
            nn.ConvTranspose2d(dims, dims, kernel_size=2, stride=2),
        )
        self.up2 = nn.Sequential(
            nn.GroupNorm(1, dims), nn.ConvTranspose2d(dims, dims, kernel_size=2, stride=2))
        self.same = nn.GroupNorm(1, dims)
        self.down2 = nn.Sequential(nn.GroupNorm(1, dims), nn.MaxPool2d(kernel_size=2, stride=2))
        return [dims] * 4

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Decode four backbone maps (last = final tokens) to one E-channel map.

        'simple': four (B, D, h, w) ViT maps -> (B, E, 4h, 4w).
        'none': four (B, C_i, h_i, w_i) maps, finest first -> (B, E, h_0, w_0).
        """
        if self.pyramid == 'simple':
            levels = self._simple_levels(inputs)
        else:
            levels = self._hierarchical_levels(inputs)
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, levels)]
        for i in range(3, 0, -1):  # top-down: coarse to fine
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        out = self.scale_heads[0](outs[0])
        for i in range(1, 4):
            # level i is upsampled 2^i times, which need not give the finest size: an odd h
            # loses a row in the /2 level ('simple'), a padded backbone grid rounds up
            # ('none'), so resize to the finest level (bilinear, align_corners=True as the
            # official code)
            out = out + F.interpolate(self.scale_heads[i](outs[i]), size=out.shape[2:],
                                      mode='bilinear', align_corners=True)
        return out

    def _simple_levels(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Four (B, D, h, w) ViT maps -> levels at 4h, 2h, h (with the final MLP), h/2."""
        if len(inputs) != 4:
            raise ValueError(f'UEMPixelDecoder needs 4 ViT maps, got {len(inputs)}')
        # compared pairwise, not as a set: symbolic sizes (torch.export, ONNX) are unhashable
        if any(tuple(x.shape) != tuple(inputs[0].shape) for x in inputs[1:]):
            raise ValueError('the 4 ViT maps must share one shape, got '
                             f'{[tuple(x.shape) for x in inputs]}')
        if min(inputs[0].shape[2:]) < 2:
            raise ValueError('the patch grid must be at least 2x2 (the /2 level max-pools it), '
                             f'got {tuple(inputs[0].shape[2:])}')
        same = self.same(inputs[2])
        if self.final_mlp is not None:
            same = torch.cat([same, self.final_mlp(inputs[3])], dim=1)  # (B, D + E, h, w)
        return [self.up4(inputs[0]), self.up2(inputs[1]), same, self.down2(inputs[3])]

    def _hierarchical_levels(self, inputs: Sequence[Tensor]) -> List[Tensor]:
        """Four (B, C_i, h_i, w_i) maps, finest first, checked; the final MLP joins level 3."""
        if len(inputs) != 4:
            raise ValueError(f'UEMPixelDecoder needs 4 backbone maps, got {len(inputs)}')
        channels = [x.shape[1] for x in inputs]
        if channels != self.in_channels:
            raise ValueError(f'expected maps with channels {self.in_channels}, got {channels}')
        if len({x.shape[0] for x in inputs}) != 1:
            raise ValueError(f'batch sizes differ: {[x.shape[0] for x in inputs]}')
        for finer, coarser in zip(inputs[:-1], inputs[1:]):
            if coarser.shape[2] > finer.shape[2] or coarser.shape[3] > finer.shape[3]:
                raise ValueError('the maps must go from finest to coarsest, got grids '
                                 f'{[tuple(x.shape[2:]) for x in inputs]}')
        levels = list(inputs)
        if self.final_mlp is not None:
            levels[3] = torch.cat([inputs[3], self.final_mlp(inputs[3])],
                                  dim=1)  # (B, C_3 + E, h_3, w_3)
        return levels
