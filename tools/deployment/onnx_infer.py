"""Run an exported model with onnxruntime on an image or a folder of images.

    python tools/deployment/onnx_infer.py MODEL.onnx INPUT [--out-dir DIR]
        [--window H W] [--stride S S] [--batch-windows N] [--score LLR|ID|OoD|...]
        [--threshold X|operating_point.json] [--score-range LO HI] [--cmap NAME]
        [--threads N] [--save-maps] [--recursive] [--cfg-options KEY=VALUE ...]

The same steps as the PyTorch segmentor (``mmseg_uem.deployment.ONNXSegmentor``: the
config's test pipeline and preprocessor stored in the file, the sliding windows and their
average, F and O resized before the score) and the same outputs as ``tools/infer.py``
under ``--out-dir`` (default ``work_dirs/onnx_infer``): ``vis/<name>.png`` (input,
prediction, anomaly heat map with colour bar; pixels at or above ``--threshold`` flagged)
and, with ``--save-maps``, ``pred/<name>_pred.png`` (class ids) and
``pred/<name>.npz`` (float32 anomaly map), ``<name>`` named as ``tools/infer.py`` names it
(the path below the folder given; clashing names refused before any image is read).
``--cfg-options`` changes the config stored in the file (``model.test_cfg.*``,
``model.data_preprocessor.*``, ``test_pipeline``). Prints the images/s at the end.
"""
import argparse
import os.path as osp
import sys
import time

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import mmcv  # noqa: E402
from mmengine.config import DictAction  # noqa: E402

from mmseg_uem.apis.cli import add_debug_arg, run_cli  # noqa: E402
from mmseg_uem.apis.outputs import (  # noqa: E402
    collect_images,
    output_names,
    skipped_note,
    write_prediction,
)
from mmseg_uem.deployment import ONNXSegmentor  # noqa: E402
from mmseg_uem.evaluation.operating_point import resolve_threshold  # noqa: E402
from mmseg_uem.models.utils.scores import SCORE_MODES  # noqa: E402
from mmseg_uem.visualization import sample_arrays  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Anomaly maps with an exported ONNX model')
    parser.add_argument('model', help='.onnx file written by tools/deployment/pytorch2onnx.py')
    parser.add_argument('input', help='an image file or a folder of images')
    parser.add_argument('--out-dir', default='work_dirs/onnx_infer')
    parser.add_argument('--window', type=int, nargs=2, metavar=('H', 'W'),
                        help='sliding window; must be the exported one (the default)')
    parser.add_argument('--stride', type=int, nargs=2, metavar=('SH', 'SW'),
                        help="window step (default: the config's test_cfg.stride, or the "
                        'window for whole-image configs)')
    parser.add_argument('--batch-windows', type=int,
                        help='windows per onnxruntime call (default: the exported batch)')
    parser.add_argument('--score', choices=SCORE_MODES,
                        help="anomaly score of a 'maps' export (default: the config's)")
    parser.add_argument('--threshold',
                        help='flag pixels with score >= X: a number or an operating_point.json')
    parser.add_argument('--score-range', type=float, nargs=2, metavar=('LO', 'HI'),
                        help='colour scale of the heat maps, shared by all images')
    parser.add_argument('--cmap', default='inferno', help='matplotlib colour map')
    parser.add_argument('--threads', type=int, help='onnxruntime intra-op threads')
    parser.add_argument('--save-maps', action='store_true',
                        help='also write the class ids and the float32 anomaly maps')
    parser.add_argument('--recursive', action='store_true',
                        help='a folder INPUT: also read the images of its subfolders')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
                        help='override the stored config: model.test_cfg.<key>, '
                        'model.data_preprocessor.<key>, test_pipeline')
    add_debug_arg(parser)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if osp.isdir(args.input):
        images, skipped = collect_images(args.input, recursive=args.recursive)
        print(skipped_note(args.input, skipped, num_images=len(images)))
        names = output_names(images, root=args.input)
    elif osp.isfile(args.input):
        images = [args.input]
        names = output_names(images)
    else:
        raise FileNotFoundError(f'input {args.input} is neither an image file nor a folder')
    if not osp.isfile(args.model):
        raise FileNotFoundError(f'exported model {args.model} does not exist')
    runner = ONNXSegmentor(args.model, stride=args.stride, batch_windows=args.batch_windows,
                           score=args.score, num_threads=args.threads,
                           cfg_options=args.cfg_options)
    if args.window and tuple(args.window) != runner.window:
        raise SystemExit(f'{args.model} takes {runner.window[0]}x{runner.window[1]} windows '
                         f'(fixed at export), not {args.window[0]}x{args.window[1]}: '
                         'export again with --shape')
    meta = runner.dataset_meta or {}
    threshold, threshold_name = resolve_threshold(args.threshold)
    start = time.perf_counter()
    for path, name in zip(images, names):
        arrays = sample_arrays(runner.predict(path)[0])
        image = mmcv.imread(path, channel_order='rgb')
        write_prediction(args.out_dir, name, image, anomaly_score=arrays['scores'],
                         sem_seg=arrays['pred'], img_path=path,
                         save_maps=args.save_maps, threshold=threshold,
                         threshold_name=threshold_name, score_range=args.score_range,
                         score_name=runner.score, cmap=args.cmap,
                         classes=meta.get('classes'), palette=meta.get('palette'))
    seconds = time.perf_counter() - start
    print(f'{len(images)} image(s) in {seconds:.1f} s ({len(images) / seconds:.2f} images/s, '
          f'onnxruntime {runner.session.get_providers()[0]}); outputs in {args.out_dir}')


if __name__ == '__main__':
    run_cli(main)
