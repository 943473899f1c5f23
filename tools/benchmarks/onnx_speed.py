"""Images/s of onnxruntime vs PyTorch on this CPU: one window and a full sliding-window image.

    python tools/benchmarks/onnx_speed.py [--variants G D G-G G-D D-D] [--threads 2]
        [--window 126 252] [--image 256 512] [--stride 35 35] [--runs 5] [--warmup 1]

Per variant, a random-weight model at a tiny width (ViT 96 dims / 4 blocks / 3 heads,
64 decoder channels, 19 classes; GMM Gaussians spread as trained ones) is exported once
('maps', dynamic batch) and timed on synthetic inputs with the same thread count for both:
1. one window (batch 1): ``UEMEncoderDecoder.encode_decode`` vs the session;
2. one full image: ``UEMEncoderDecoder.predict`` (sliding windows, ``batch_windows``
   per forward, score at the image size) vs ``ONNXSegmentor.predict_inputs`` (the same
   windows and averaging, the session as the network).
Medians (and fastest) of --runs interleaved runs after --warmup calls
(``mmseg_uem.benchmark.measure``); the max abs difference of the two anomaly maps is
printed next to the times, with how much PyTorch's own score moves when the input gets
noise of 1e-6 (the score's conditioning: the scale below which differences mean nothing).
The default geometry is throughput.py's CPU one (a 4x smaller
paper geometry: 45 windows per image). Numbers only compare the two runtimes on this
machine; a shared machine adds noise (the fastest run is the robust figure).
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import tempfile

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.benchmark.measure import measure
from mmseg_uem.benchmark.report import environment
from mmseg_uem.deployment import ONNXSegmentor, deploy_metadata, export_onnx
from mmseg_uem.deployment.parity import spread_gaussians
from mmseg_uem.models.utils.sliding_window import window_grid
from mmseg_uem.testing.models import segmentor_cfg

VARIANTS = ('G', 'D', 'G-G', 'G-D', 'D-D')
TINY = dict(arch=dict(embed_dims=96, num_layers=4, num_heads=3), out_indices=(0, 1, 2, 3),
            channels=64, memory_size=100, mlp_channels=(128, 128, 64))
PREPROCESSOR = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--variants', nargs='+', choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument('--threads', type=int, default=2, help='torch and onnxruntime threads')
    parser.add_argument('--window', type=int, nargs=2, default=(126, 252))
    parser.add_argument('--image', type=int, nargs=2, default=(256, 512))
    parser.add_argument('--stride', type=int, nargs=2, default=(35, 35))
    parser.add_argument('--batch-windows', type=int, default=8)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    return parser.parse_args()


def bench_variant(variant: str, args, tmp: str) -> dict:
    test_cfg = dict(mode='slide', crop_size=tuple(args.window), stride=tuple(args.stride),
                    batch_windows=args.batch_windows)
    cfg = segmentor_cfg(variant, **TINY, test_cfg=test_cfg)
    cfg['data_preprocessor'] = PREPROCESSOR
    torch.manual_seed(0)
    model = MODELS.build(cfg).eval()
    spread_gaussians(model, seed=0)
    path = osp.join(tmp, f'{variant}.onnx')
    config = Config(dict(model=cfg, test_pipeline=[dict(type='LoadImageFromFile'),
                                                   dict(type='PackSegInputs')]))
    meta = deploy_metadata(config, model, window=args.window, outputs='maps', batch_size=None)
    export_onnx(model, path, window=args.window, dynamic_batch=True, metadata=meta)
    runner = ONNXSegmentor(path, num_threads=args.threads)

    g = torch.Generator().manual_seed(1)
    window = torch.randn(1, 3, *args.window, generator=g)
    image = torch.randn(1, 3, *args.image, generator=g)
    shape = tuple(args.image)
    info = dict(ori_shape=shape, img_shape=shape, pad_shape=shape, padding_size=[0, 0, 0, 0])
    outs = {}

    def torch_window():
        with torch.no_grad():
            model.encode_decode(window, [])

    def ort_window():
        runner.run(window)

    def torch_slide():
        with torch.no_grad():
            outs['torch'] = model.predict(image, [SegDataSample(metainfo=info)])[0]

    def ort_slide():
        outs['ort'] = runner.predict_inputs(image, SegDataSample(metainfo=info))

    res = measure({'torch window': torch_window, 'ort window': ort_window,
                   'torch slide': torch_slide, 'ort slide': ort_slide},
                  device=torch.device('cpu'), runs=args.runs, warmup=args.warmup)
    diff = (outs['torch'].pred_anomaly_score.data
            - outs['ort'].pred_anomaly_score.data).abs().max().item()
    # the score's own conditioning: PyTorch against itself with input noise of 1e-6
    noisy = image + 1e-6 * torch.randn(image.shape, generator=g)
    with torch.no_grad():
        moved = model.predict(noisy, [SegDataSample(metainfo=info)])[0]
    noise = (moved.pred_anomaly_score.data
             - outs['torch'].pred_anomaly_score.data).abs().max().item()
    row = dict(variant=variant, score=model.score, max_abs_diff=diff, noise_diff=noise)
    for key, r in res.items():
        row[key] = 1 / r['seconds']
        row[key + ' best'] = 1 / r['best_seconds']
    return row


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    init_default_scope('mmseg')
    windows = (len(window_grid(args.image[0], args.window[0], args.stride[0]))
               * len(window_grid(args.image[1], args.window[1], args.stride[1])))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            rows.append(bench_variant(variant, args, tmp))
            print(rows[-1], flush=True)
    print(f'\n| variant | window: PyTorch img/s | window: onnxruntime img/s | x | '
          f'slide ({windows} windows): PyTorch img/s | slide: onnxruntime img/s | x | '
          'score max abs diff | PyTorch, input +1e-6 noise |')
    print('|' + '---|' * 9)
    for r in rows:
        print(f"| {r['variant']} ({r['score']}) | {r['torch window']:.3g} "
              f"({r['torch window best']:.3g}) | {r['ort window']:.3g} "
              f"({r['ort window best']:.3g}) | {r['ort window'] / r['torch window']:.2f} | "
              f"{r['torch slide']:.3g} ({r['torch slide best']:.3g}) | {r['ort slide']:.3g} "
              f"({r['ort slide best']:.3g}) | {r['ort slide'] / r['torch slide']:.2f} | "
              f"{r['max_abs_diff']:.1e} | {r['noise_diff']:.1e} |")
    import onnxruntime
    env = environment(torch.device('cpu'))
    env['onnxruntime'] = onnxruntime.__version__
    print(f'\nimages/s: median (fastest) of {args.runs} runs; x: onnxruntime / PyTorch '
          f'(medians). window {args.window[0]}x{args.window[1]}, image '
          f'{args.image[0]}x{args.image[1]}, stride {args.stride[0]}x{args.stride[1]}, '
          f'{args.batch_windows} windows per forward, {args.threads} threads.')
    print('environment: ' + ', '.join(f'{k}={v}' for k, v in env.items()))


if __name__ == '__main__':
    main()
