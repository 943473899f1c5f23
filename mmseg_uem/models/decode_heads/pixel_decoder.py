"""Pixel decoder of the UEM inlier segmentor: ViTDet simple pyramid + FPN + Panoptic-FPN sum.

Shape key: B batch, D ViT feature dim, h x w ViT patch grid (stride 14), E decoder channels.

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
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class UEMPixelDecoder(BaseModule):
    """Simple-pyramid FPN decoder from four same-stride ViT maps to one stride-3.5 map.

    Args:
        in_channels: ViT feature dim D of each of the four input maps.
        channels: output / FPN channels E (256 in the paper).
        final_mlp_channels: hidden width of the MLP that projects the final tokens (the last
            input map) to E channels and concatenates them to the x1 level (512 in the
            official code); None leaves the x1 level as the normed block map alone.
        norm_cfg: norm between the two x4 transposed convs and inside the upsampling heads.
        act_cfg: activation of the upsampling heads.
        init_cfg: mmengine init config (None: PyTorch default init, as the official code).
    """

    def __init__(
        self,
        in_channels: int,
        channels: int = 256,
        *,
        final_mlp_channels: Optional[int] = 512,
        norm_cfg: Optional[dict] = None,
        act_cfg: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg)
        norm_cfg = dict(type='GN', num_groups=32, requires_grad=True) \
            if norm_cfg is None else norm_cfg
        act_cfg = dict(type='ReLU') if act_cfg is None else act_cfg
        dims = in_channels
        self.in_channels = in_channels
        self.channels = channels
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
        if final_mlp_channels is None:
            self.final_mlp = None
            level_channels = [dims] * 4
        else:
            # per-token MLP written as 1x1 convs (same weights as nn.Linear on channel-last)
            self.final_mlp = nn.Sequential(
                nn.Conv2d(dims, final_mlp_channels, 1), nn.ReLU(inplace=True),
                nn.Conv2d(final_mlp_channels, channels, 1))
            level_channels = [dims, dims, dims + channels, dims]
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

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Decode four (B, D, h, w) ViT maps (last = final normed tokens) to (B, E, 4h, 4w)."""
        if len(inputs) != 4:
            raise ValueError(f'UEMPixelDecoder needs 4 ViT maps, got {len(inputs)}')
        shapes = {tuple(x.shape) for x in inputs}
        if len(shapes) != 1:
            raise ValueError(f'the 4 ViT maps must share one shape, got {sorted(shapes)}')
        if min(inputs[0].shape[2:]) < 2:
            raise ValueError('the patch grid must be at least 2x2 (the /2 level max-pools it), '
                             f'got {tuple(inputs[0].shape[2:])}')
        same = self.same(inputs[2])
        if self.final_mlp is not None:
            same = torch.cat([same, self.final_mlp(inputs[3])], dim=1)  # (B, D + E, h, w)
        levels = [self.up4(inputs[0]), self.up2(inputs[1]), same, self.down2(inputs[3])]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, levels)]
        for i in range(3, 0, -1):  # top-down: coarse to fine
            laterals[i - 1] = laterals[i - 1] + F.interpolate(
                laterals[i], size=laterals[i - 1].shape[2:], mode='nearest')
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        out = self.scale_heads[0](outs[0])
        for i in range(1, 4):
            # an odd h loses a row in the /2 level: 8 * floor(h/2) may differ from 4h, so
            # resize to the x4 level (bilinear, align_corners=True as the official code)
            out = out + F.interpolate(self.scale_heads[i](outs[i]), size=out.shape[2:],
                                      mode='bilinear', align_corners=True)
        return out
