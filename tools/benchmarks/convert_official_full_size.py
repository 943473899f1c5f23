"""Time and peak memory of converting a full-size (ViT-B/14) official G-G checkpoint.

Usage:
    python tools/benchmarks/convert_official_full_size.py [--variant G-G] [--keep DIR]

Builds a synthetic checkpoint in the published layout and sizes (G-G: 283 tensors,
317,430,429 values, ~1.27 GB; Lightning container), then runs
``tools/model_converters/uem_official2mmseg.py`` on it in a fresh process and reports its
wall time and peak resident memory (the child's ``ru_maxrss``), and the output's size.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import os
import resource
import subprocess
import tempfile
import time

import torch

from mmseg_uem.testing.official_uem import FULL_SIZE, lightning_checkpoint, official_uem_state_dict

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--variant', default='G-G', choices=['G', 'D', 'G-G', 'G-D', 'D-D'])
    parser.add_argument('--keep', help='write the files here and keep them (default: a '
                        'temporary folder, removed afterwards)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    folder = args.keep or tempfile.mkdtemp(prefix='uem-convert-')
    os.makedirs(folder, exist_ok=True)
    src, dst = osp.join(folder, 'official.ckpt'), osp.join(folder, 'converted.pth')
    state = official_uem_state_dict(args.variant, **FULL_SIZE)
    values = sum(t.numel() for t in state.values())
    torch.save(lightning_checkpoint(state, hyper_parameters=dict(config={'VARIANT': args.variant})),
               src)
    del state
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools/model_converters/'
                                                    'uem_official2mmseg.py'), src, dst],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(proc.stdout + proc.stderr)
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    print(proc.stdout.strip())
    print(f'{args.variant}: {values:,} values, source {osp.getsize(src) / 2**20:.0f} MiB, '
          f'output {osp.getsize(dst) / 2**20:.0f} MiB; conversion {wall:.1f} s wall '
          f'(incl. interpreter start and imports), peak RSS {peak_mib:.0f} MiB')
    if not args.keep:
        for path in (src, dst):
            os.remove(path)
        os.rmdir(folder)


if __name__ == '__main__':
    main()
