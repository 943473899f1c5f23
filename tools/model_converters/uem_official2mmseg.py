"""Convert a released UEM checkpoint (official Lightning ``.ckpt``) to this project's format.

Example::

    python tools/model_converters/uem_official2mmseg.py g_g.ckpt checkpoints/uem_gg.pth
    python tools/test.py configs/uem/dinov2_gg_test-road-anomaly.py checkpoints/uem_gg.pth \\
        --eval AP FPR95 AUROC

The file is read without running any pickled code (its EasyDict config is read as a plain
dict). The variant (G, D segmentors; G-G, G-D, D-D OoD models) is detected from the keys;
``--variant`` makes a mismatch an error. Every tensor is mapped or reported; a key that no
official module has, a missing key or a wrong shape is an error naming the file and keys.
The output holds ``state_dict`` and ``meta`` (tensors, strings and numbers only), so it loads
with ``torch.load(weights_only=True)``; an OoD model is one complete checkpoint, and a
segmentor can serve as ``model.stage1_checkpoint`` of a stage-2 config. A file whose sizes
differ from the paper config's (another ViT width, fewer classes, a smaller memory, ...)
gets the config to test it with: ``<dst without .pth>_config.py`` next to it, the paper
config plus the overrides it needs (printed under their config keys).
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import os
import time

import torch

from mmseg_uem.apis.cli import add_debug_arg, read_config, run_cli
from mmseg_uem.models.converters import VARIANTS, convert_uem_official_checkpoint
from mmseg_uem.models.converters.uem_official_config import (
    config_overrides,
    format_overrides,
    write_delta_config,
)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: variant -> the paper config whose model the converted file loads into
PAPER_CONFIGS = {
    'G': 'configs/uem/dinov2_g_stage1_cityscapes.py',
    'D': 'configs/uem/dinov2_d_stage1_cityscapes.py',
    'G-G': 'configs/uem/dinov2_gg_test-road-anomaly.py',
    'G-D': 'configs/uem/dinov2_gd_test-road-anomaly.py',
    'D-D': 'configs/uem/dinov2_dd_test-road-anomaly.py',
}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='official checkpoint (.ckpt)')
    parser.add_argument('dst', help='output checkpoint (.pth)')
    parser.add_argument('--variant', default='auto', choices=('auto', ) + VARIANTS,
                        help='expected variant (default: detected from the keys)')
    add_debug_arg(parser)
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.perf_counter()
    conversion = convert_uem_official_checkpoint(args.src, variant=args.variant)
    meta = dict(converted_from=osp.basename(args.src), uem_variant=conversion.variant,
                converter='tools/model_converters/uem_official2mmseg.py',
                arch={k: (list(v) if isinstance(v, tuple) else v)
                      for k, v in conversion.arch.items()})
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    partial = args.dst + '.part'  # never leave a truncated output under the final name
    torch.save(dict(state_dict=conversion.state_dict, meta=meta), partial)
    os.replace(partial, args.dst)
    checked = conversion.checked
    print(f'{args.src}: official UEM {conversion.variant} checkpoint, '
          f'{len(conversion.mapping) + len(checked)} tensors: {len(conversion.mapping)} mapped, '
          f'{len(checked)} checked and not stored'
          + ''.join(f'\n  {key}: {why}' for key, why in sorted(checked.items())))
    print(f'wrote {len(conversion.state_dict)} tensors to {args.dst} '
          f'({time.perf_counter() - start:.1f} s)')
    config = PAPER_CONFIGS[conversion.variant]
    overrides = config_overrides(conversion.arch, conversion.variant,
                                 read_config(osp.join(ROOT, config)).to_dict())
    if overrides:
        delta = write_delta_config(osp.splitext(args.dst)[0] + '_config.py',
                                   osp.join(ROOT, config), overrides,
                                   checkpoint=osp.basename(args.dst))
        print(f'the file is not at the sizes of {config}: its model needs '
              f'{format_overrides(overrides)}\nwritten as the config {delta}')
        config = osp.relpath(delta)
    else:
        print(f'the file has the sizes of {config}')
    if '-' in conversion.variant:
        print(f'test: python tools/test.py {config} {args.dst} --eval AP FPR95 AUROC')
    else:
        print(f'test: python tools/test.py {config} {args.dst} --eval mIoU\n'
              f'stage 2: --cfg-options model.stage1_checkpoint={args.dst}')


if __name__ == '__main__':
    run_cli(main)
