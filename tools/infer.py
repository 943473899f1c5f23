"""Anomaly maps for your own images and videos: ``python tools/infer.py INPUT CONFIG CKPT``.

INPUT is an image, a folder of images (its subfolders too with ``--recursive``), a video
file or a camera index (``0``). Images give ``<out-dir>/vis/<name>.png`` (input |
prediction | anomaly heat map [| flagged pixels]) and, with ``--save-maps``,
``<out-dir>/pred/<name>_pred.png`` (class ids) and ``<name>.npz`` (the float32 anomaly map,
:func:`mmseg_uem.evaluation.io.load_anomaly_map`). ``<name>`` is the image's path below the
folder given, without its extension (the stem of a single image), as ``tools/test.py --out``
names its maps; two images with one name (``a.jpg`` and ``a.png``) are refused before the
model is built, and a folder's skipped files are counted in one line. A video or a
camera gives ``<out-dir>/<name>_anomaly.mp4``, one picture per frame at the input's frame
rate (``--save-maps``: the maps of every frame too); a progress bar runs while it works and
the frame rate is printed at the end. The heat maps of a video share one colour scale
(``--score-range``, else the first frame's range), so colours compare across frames.
"""
import argparse
import os
import os.path as osp
import sys
import time

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmengine.config import DictAction

import mmseg_uem  # noqa: F401  (registers our modules, allows mmengine checkpoints)
from mmseg_uem.apis import (
    UEMInferencer,
    collect_images,
    output_names,
    save_picture,
    save_prediction_maps,
    skipped_note,
)
from mmseg_uem.apis.cli import add_debug_arg, read_config, run_cli
from mmseg_uem.models.utils.scores import SCORE_MODES
from mmseg_uem.utils.checkpoint import check_checkpoint_file

VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg', '.mpeg')


def parse_args():
    parser = argparse.ArgumentParser(description='Anomaly maps for images, folders, videos')
    parser.add_argument('input', help='image, folder of images, video file or camera index')
    parser.add_argument('config', help='config file (its test pipeline is used)')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out-dir', default='work_dirs/infer', help='output folder')
    parser.add_argument('--score', choices=SCORE_MODES,
                        help="anomaly score (default: the config's test_cfg.score)")
    parser.add_argument(
        '--threshold', help='also draw the pixels with score >= this: a number, or the '
        'operating_point.json tools/test.py writes (e.g. the score at TPR 95%%)')
    parser.add_argument('--score-range', nargs=2, type=float, metavar=('LO', 'HI'),
                        help='fixed colour scale of the heat maps')
    parser.add_argument('--save-maps', action='store_true',
                        help='also write class ids (_pred.png) and anomaly maps (.npz)')
    parser.add_argument('--device', default='cpu', help="'cpu', 'cuda' or 'cuda:N'")
    parser.add_argument('--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--max-frames', type=int, help='stop a video or camera after N frames')
    parser.add_argument('--show', action='store_true', help='also show each picture')
    parser.add_argument('--recursive', action='store_true',
                        help='a folder INPUT: also read the images of its subfolders')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, metavar='KEY=VALUE',
        help='override settings of the config, as tools/test.py (e.g. '
        'model.test_cfg.mode=whole)')
    add_debug_arg(parser)
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    return args


def _as_list(value) -> list:
    """mmseg's inferencers return one item unwrapped: always a list here."""
    return value if isinstance(value, list) else [value]


def list_inputs(args) -> tuple:
    """(image paths, their output names) of an image or folder INPUT, checked before the
    model is built: the paths exist, and no two images get one name."""
    if osp.isdir(args.input):
        inputs, skipped = collect_images(args.input, recursive=args.recursive)
        print(skipped_note(args.input, skipped, num_images=len(inputs)))
        return inputs, output_names(inputs, root=args.input)
    if not osp.isfile(args.input):
        raise FileNotFoundError(f'input {args.input} does not exist (an image, a folder, a '
                                'video file or a camera index)')
    return [args.input], output_names([args.input])


def open_video(path: str):
    """mmcv's reader of ``path``, refused before the model is built if it holds no frame."""
    import cv2
    import mmcv

    if not osp.isfile(path):
        raise FileNotFoundError(f'video {path} does not exist')
    # FFmpeg's own error lines ("moov atom not found") would precede ours: quiet unless set
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '-8')
    try:
        probe = cv2.VideoCapture(path)  # a separate handle: the reader starts at frame 0
        readable = probe.isOpened() and probe.read()[0]
        probe.release()
        reader = mmcv.VideoReader(path) if readable else None
        readable = readable and reader.frame_cnt > 0
    except Exception as err:  # OpenCV's own error, whatever the container
        raise ValueError(f'{path} is not a readable video ({err})') from err
    if not readable:
        raise ValueError(f'{path} is not a readable video: OpenCV finds no frame in it (a '
                         'file with a video name that holds no video?)')
    return reader


def infer_images(inferencer: UEMInferencer, args, inputs: list, names: list) -> int:
    """An image or a folder; returns the number of images."""
    start = time.perf_counter()
    for first in range(0, len(inputs), args.batch_size):
        batch = inputs[first:first + args.batch_size]
        result = inferencer(batch, batch_size=args.batch_size, return_vis=True,
                            show=args.show)
        for path, name, pred, canvas in zip(batch, names[first:first + args.batch_size],
                                            _as_list(result['predictions']),
                                            _as_list(result['visualization'])):
            saved = save_picture(osp.join(args.out_dir, 'vis'), name, canvas)
            if args.save_maps:
                save_prediction_maps(osp.join(args.out_dir, 'pred'), name, img_path=path,
                                     score_mode=inferencer.model.score, **pred)
            print(f'{path} -> {saved}')
    _report(len(inputs), time.perf_counter() - start, 'images')
    return len(inputs)


def infer_video(inferencer: UEMInferencer, args, reader) -> int:
    """A video file (``reader``) or a camera (None); returns the number of frames written."""
    import cv2
    import mmcv
    from mmengine.utils import ProgressBar

    camera = args.input.isdigit()
    if camera:
        capture = cv2.VideoCapture(int(args.input))
        if not capture.isOpened():
            raise RuntimeError(f'camera {args.input} cannot be opened')
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
        total, name = args.max_frames, f'camera{args.input}'
        frames = _camera_frames(capture)
    else:
        fps, total = reader.fps, len(reader)
        if args.max_frames:
            total = min(total, args.max_frames)
        name = osp.splitext(osp.basename(args.input))[0]
        frames = _video_frames(reader, total)
    out_path = osp.join(args.out_dir, f'{name}_anomaly.mp4')
    writer, size, count = None, None, 0
    bar = ProgressBar(total) if total else None
    start = time.perf_counter()
    try:
        while args.max_frames is None or count < args.max_frames:
            batch = _take(frames, args.batch_size if args.max_frames is None
                          else min(args.batch_size, args.max_frames - count))
            if not batch:
                break
            if inferencer.score_range is None:
                # one colour scale for the whole video (the first frame's), no flicker
                first = inferencer(batch[0])['predictions']['anomaly_score']
                inferencer.score_range = (float(first.min()), float(first.max()))
                print(f'colour scale of all frames: {inferencer.score_range} (first frame; '
                      'set it with --score-range LO HI)')
            result = inferencer(batch, batch_size=args.batch_size, return_vis=True,
                                show=args.show)
            for pred, canvas in zip(_as_list(result['predictions']),
                                    _as_list(result['visualization'])):
                if writer is None:
                    size = (canvas.shape[1], canvas.shape[0])
                    os.makedirs(args.out_dir, exist_ok=True)
                    writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                                             size)
                    if not writer.isOpened():
                        raise RuntimeError(f'cannot write the video {out_path}')
                if (canvas.shape[1], canvas.shape[0]) != size:
                    canvas = mmcv.imresize(canvas, size)
                writer.write(canvas[..., ::-1].copy())
                if args.save_maps:
                    save_prediction_maps(osp.join(args.out_dir, 'pred'),
                                         f'{name}_{count:06d}', score_mode=inferencer.model.score,
                                         **pred)
                count += 1
                if bar is not None:
                    bar.update()
    except KeyboardInterrupt:
        print('\nstopped')
    finally:
        if writer is not None:
            writer.release()
        if camera:
            capture.release()
    if count == 0:
        raise ValueError(f'{args.input} gave no frame')
    print(f'\n{count} frames -> {out_path}')
    _report(count, time.perf_counter() - start, 'frames')
    return count


def _video_frames(reader, total: int):
    """The first ``total`` frames, read in order (the reader's own iterator does not stop
    at the last frame)."""
    for _ in range(total):
        frame = reader.read()
        if frame is None:
            return
        yield frame


def _camera_frames(capture):
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield frame


def _take(frames, n: int) -> list:
    batch = []
    for frame in frames:
        batch.append(frame)
        if len(batch) == n:
            break
    return batch


def _report(count: int, seconds: float, what: str) -> None:
    print(f'{count} {what} in {seconds:.1f} s: {count / max(seconds, 1e-9):.2f} {what}/s '
          '(model, drawing and writing)')


def main():
    args = parse_args()
    # every input is checked before the model is built (10 s and more)
    cfg = read_config(args.config, args.cfg_options)
    is_video = args.input.isdigit() or args.input.lower().endswith(VIDEO_SUFFIXES)
    if is_video:
        reader = None if args.input.isdigit() else open_video(args.input)
    else:
        inputs, names = list_inputs(args)
    check_checkpoint_file(args.checkpoint)  # exists and is a whole file
    inferencer = UEMInferencer(cfg, weights=args.checkpoint, device=args.device,
                               score=args.score, threshold=args.threshold,
                               score_range=args.score_range)
    inferencer.show_progress = False
    if is_video:
        infer_video(inferencer, args, reader)
    else:
        infer_images(inferencer, args, inputs, names)


if __name__ == '__main__':
    run_cli(main)
