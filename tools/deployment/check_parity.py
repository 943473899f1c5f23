"""onnxruntime vs PyTorch on random-weight models of every variant, at two sizes.

    python tools/deployment/check_parity.py [--sizes demo vitb] [--variants G D G-G G-D D-D]

'demo': the demo's width (ViT 96 dims / 4 blocks / 3 heads, 64 decoder channels,
19 classes, UEM MLP 128-128-64) at the demo's window 168x336; 'vitb': DINOv2 ViT-B/14 with
4 registers and the paper's heads (256 channels, UEM MLP 512-512-256) at one small window,
112x224. Random weights, GMM Gaussians spread as trained ones
(``mmseg_uem.deployment.parity.spread_gaussians``); the GMM memories are small (they are
not part of the eval graph). For each model: export the 'maps' graph, run 2 random windows
through both, and report the max abs difference of the anomaly score (the model's default:
LLR with a UEM, else ID) and of F|O, and the argmax mismatches (all / not at a near-tie).
Prints a Markdown table; the acceptance bound is 1e-4 on the score.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import json
import os
import tempfile

import torch
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.deployment.parity import SCORE_TOLERANCE, export_and_compare, spread_gaussians
from mmseg_uem.testing.models import segmentor_cfg

VARIANTS = ('G', 'D', 'G-G', 'G-D', 'D-D')
SIZES = {
    'demo': dict(window=(168, 336), cfg=dict(
        arch=dict(embed_dims=96, num_layers=4, num_heads=3), out_indices=(0, 1, 2, 3),
        channels=64, memory_size=100, mlp_channels=(128, 128, 64))),
    'vitb': dict(window=(112, 224), cfg=dict(
        arch='vitb14_reg', out_indices=(1, 4, 8, 11), channels=256, memory_size=100,
        mlp_channels=(512, 512, 256))),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', nargs='+', choices=sorted(SIZES), default=['demo', 'vitb'])
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument('--threads', type=int, default=2, help='torch and onnxruntime threads')
    parser.add_argument('--out', help='also write the rows as JSON here')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            for variant in args.variants:
                torch.manual_seed(0)
                model = MODELS.build(segmentor_cfg(variant, **SIZES[size]['cfg'])).eval()
                spread_gaussians(model, seed=0)
                path = osp.join(tmp, f'{size}_{variant}.onnx')
                res = export_and_compare(model, path, window=SIZES[size]['window'],
                                         num_threads=args.threads)
                os.remove(path)
                rows.append(dict(size=size, variant=variant, score=model.score,
                                 window='x'.join(map(str, SIZES[size]['window'])), **res))
                print(json.dumps(rows[-1]), flush=True)
    print('\n| size | variant | window | score | score max abs diff | F,O max abs diff | '
          'argmax mismatches (not near-tie) / pixels | export s | ONNX MiB |')
    print('|' + '---|' * 9)
    for r in rows:
        print(f"| {r['size']} | {r['variant']} | {r['window']} | {r['score']} | "
              f"{r['score_max_abs']:.2e} | {r['maps_max_abs']:.2e} | {r['pred_mismatch']} "
              f"({r['pred_mismatch_not_tie']}) / {r['pixels']} | {r['export_s']:.0f} | "
              f"{r['onnx_mib']:.1f} |")
    worst = max(r['score_max_abs'] for r in rows)
    print(f'\nworst score difference {worst:.2e} (bound {SCORE_TOLERANCE:g}): '
          f'{"PASS" if worst <= SCORE_TOLERANCE else "FAIL"}; torch {torch.__version__}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(rows, f, indent=1)


if __name__ == '__main__':
    main()
