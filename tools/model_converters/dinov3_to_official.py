"""Convert a DINOv3 ViT file of the timm or Hugging Face layout to Meta's official layout.

Example::

    python tools/model_converters/dinov3_to_official.py model.safetensors \\
        checkpoints/dinov3_vitb16_pretrain_lvd1689m.pth

The ``DINOv3`` backbone reads timm and Hugging Face files directly too (``init_cfg``
checkpoint); converting once gives a file in Meta's layout that any DINOv3 code loads. The
input is a ``.pth`` (read with ``torch.load(weights_only=True)``) or a ``.safetensors`` file
(read without executing anything); the hub arch that fits is detected from the shapes and
printed (``--arch`` makes a mismatch an error). Meta's weights stay under the DINOv3 License
whatever their layout.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import os

import torch

from mmseg_uem.models.backbones.dinov2_converter import backbone_state
from mmseg_uem.models.backbones.dinov3 import ARCHS, DINOv3, fitting_archs, resolve_arch
from mmseg_uem.models.backbones.dinov3_converter import convert_dinov3_state_dict, layout_of
from mmseg_uem.utils.checkpoint import read_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='timm / Hugging Face / official file (.pth, .safetensors)')
    parser.add_argument('dst', help='output .pth in the official layout')
    parser.add_argument('--arch', default='auto', choices=('auto', ) + ARCHS,
                        help='expected hub arch (default: detected from the shapes)')
    parser.add_argument('--prefix', default=None,
                        help="keep only the keys under this prefix (e.g. 'dinov3_vit.')")
    return parser.parse_args()


def main():
    args = parse_args()
    raw = read_checkpoint(args.src, what='DINOv3 file')
    layout = layout_of(backbone_state(raw, prefix=args.prefix))
    cls = backbone_state(raw, prefix=args.prefix).get('cls_token')
    if not isinstance(cls, torch.Tensor):
        raise SystemExit(f'{args.src}: no cls_token under prefix {args.prefix!r}: not a DINOv3 '
                         'ViT file (or pass --prefix)')
    # timm and HF keep no RoPE periods: every hub size has 64-dim heads
    heads = resolve_arch(args.arch)['num_heads'] if args.arch != 'auto' else \
        cls.shape[-1] // 64
    state = convert_dinov3_state_dict(raw, prefix=args.prefix, num_heads=heads, source=args.src)
    fits = fitting_archs(state)
    arch = args.arch if args.arch != 'auto' else (fits[0] if fits else None)
    if arch is None:
        raise SystemExit(f'{args.src}: no hub arch has these shapes (a custom size?); the '
                         'backbone takes an arch dict for it')
    with torch.device('meta'):
        model = DINOv3(arch)
    model.load_converted(state, source=args.src, assign=True)  # strict: keys and shapes
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    partial = args.dst + '.part'  # never leave a truncated output under the final name
    torch.save({k: v.contiguous() for k, v in state.items()}, partial)
    os.replace(partial, args.dst)
    print(f'{args.src} ({layout} layout) -> {args.dst} (official layout, {len(state)} '
          f"tensors): DINOv3(arch='{arch}')")


if __name__ == '__main__':
    main()
