"""Export one window of a UEM segmentor to ONNX.

    python tools/deployment/pytorch2onnx.py CONFIG CKPT --out model.onnx \\
        [--shape H W] [--dynamic-batch | --batch B] [--outputs maps|scores] [--opset N]

``--outputs maps`` (default): image (B, 3, H, W) -> F (B, K, H, W) [and O (B, 2, H, W) with
a UEM], for sliding windows (tools/deployment/onnx_infer.py averages F and O over the
windows and forms the score afterwards, as the segmentor does). ``--outputs scores``:
-> anomaly score (B, 1, H, W) and class prediction (B, 1, H, W), for whole-image use.
By default the file takes any height and width of whole backbone patches (a dynamic H and W;
the runner pads other sizes as the backbone does), so it runs every image the config runs:
its sliding window is the config's (``test_cfg.crop_size`` in 'slide' mode), and a
whole-image config runs whole images of any size. ``--shape H W`` exports one fixed window
instead. The output line says which sizes the file accepts. The input is the preprocessed
image (normalised, RGB as the config says); the preprocessing and the test pipeline are
stored in the file.
Needs the optional packages: ``pip install -e .[deploy]``.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import os
import time

from mmengine.config import DictAction

from mmseg_uem.apis.cli import add_debug_arg, run_cli
from mmseg_uem.deployment import (
    DEFAULT_OPSET,
    OPSETS,
    OUTPUTS,
    default_window,
    deploy_metadata,
    export_onnx,
    load_segmentor,
)
from mmseg_uem.models.utils.scores import SCORE_MODES


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a UEM segmentor window to ONNX')
    parser.add_argument('config', help='model config (configs/uem/...)')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument('--out', required=True, help='output .onnx file')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='export one fixed window of this size (multiples of the backbone '
                        'patch size); default: any height and width of whole patches')
    batch = parser.add_mutually_exclusive_group()
    batch.add_argument('--dynamic-batch', action='store_true',
                       help='symbolic batch axis (any number of windows per call)')
    batch.add_argument('--batch', type=int, default=1, help='static batch size (default 1)')
    parser.add_argument('--outputs', choices=OUTPUTS, default='maps',
                        help="'maps': F and O (sliding windows); 'scores': anomaly score and "
                        'class prediction (whole image)')
    parser.add_argument('--score', choices=SCORE_MODES,
                        help="anomaly score (default the config's test_cfg.score); for "
                        "'maps' exports it is the runner's default")
    parser.add_argument('--opset', type=int, choices=OPSETS, default=DEFAULT_OPSET)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override config settings, as tools/test.py')
    add_debug_arg(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    model, cfg, ckpt_meta = load_segmentor(args.config, args.checkpoint,
                                           cfg_options=args.cfg_options)
    if args.score:
        model.test_cfg.score = args.score
        _ = model.score  # refused here if it needs a UEM the model lacks
    patch = model.pad_stride
    dynamic_size = not args.shape and bool(patch)  # a patch backbone: any whole-patch size
    if args.shape:
        window = tuple(args.shape)
    else:  # the traced size: the config's window, else 8 x 8 patches
        window = default_window(cfg) or ((8 * patch, 8 * patch) if patch else None)
        if window is None:
            raise ValueError(f'{args.config} has no test window (test_cfg.crop_size or '
                             'data_preprocessor.size): pass --shape H W')
        window = tuple(-(-s // patch) * patch for s in window) if patch else window
    batch_size = None if args.dynamic_batch else args.batch
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    start = time.perf_counter()

    def export(dynamic: bool):
        meta = deploy_metadata(cfg, model, window=window, outputs=args.outputs,
                               batch_size=batch_size, dynamic_size=dynamic,
                               dataset_meta=ckpt_meta.get('dataset_meta'),
                               config=osp.basename(args.config),
                               checkpoint=osp.basename(args.checkpoint))
        return meta, export_onnx(model, args.out, window=window, outputs=args.outputs,
                                 batch_size=args.batch, dynamic_batch=args.dynamic_batch,
                                 dynamic_size=dynamic, opset=args.opset, metadata=meta)

    try:
        meta, proto = export(dynamic_size)
    except Exception as err:  # the exporter cannot make this graph's H and W symbolic
        if not dynamic_size:
            raise
        print(f'a dynamic height and width did not export ({type(err).__name__}: '
              f'{str(err).splitlines()[0][:200]}); exporting the config\'s window instead')
        dynamic_size = False
        meta, proto = export(False)
    outs = ', '.join(o.name for o in proto.graph.output)
    if dynamic_size:
        least = (model.min_patches - 1) * patch + 1
        sizes = (f'any height and width of whole {patch} px patches, at least '
                 f'{model.min_patches * patch}: images of at least {least}x{least} px (the '
                 'runner pads them)')
        if meta['test_cfg'].get('mode') == 'slide':
            sizes += f'; sliding window {window[0]}x{window[1]}'
    else:
        sizes = f'{window[0]}x{window[1]} windows only (--shape H W exports another size)'
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB, opset {args.opset}, '
          f'batch {batch_size or "dynamic"}, outputs {outs}, '
          f'score {meta["test_cfg"]["score"]}) in {time.perf_counter() - start:.1f} s; '
          f'onnx.checker passed\naccepts {sizes}')


if __name__ == '__main__':
    run_cli(main)
