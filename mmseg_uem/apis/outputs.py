"""What every prediction front end writes per image, so they all write the same files.

``UEMInferencer``, ``tools/infer.py`` and the exported-model runner call these with plain
arrays: ``<out_dir>/vis/<name>.png`` (the picture of :mod:`mmseg_uem.visualization`),
``<out_dir>/pred/<name>_pred.png`` (class ids, as mmseg's inferencer writes them) and
``<out_dir>/pred/<name>.npz`` (the anomaly map, :func:`mmseg_uem.evaluation.io.save_anomaly_map`).

``<name>`` follows the one rule of ``tools/test.py --out``
(:func:`~mmseg_uem.evaluation.io.output_name`): the input's path below the input root
without its extension, where the root is the folder given, else the deepest folder holding
every input path (``s1/a`` and ``s2/a`` for ``s1/a.jpg`` and ``s2/a.jpg``; the stem for a
single image). Inputs that would still share a name (``top.jpg`` and ``top.png``) are
refused by :func:`output_names` before any image is read.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import mmcv
import numpy as np
from PIL import Image

from ..evaluation.io import OutputNames, save_anomaly_map
from ..visualization import draw_anomaly_panels

VIS_DIR, PRED_DIR = 'vis', 'pred'
#: file endings read as images from a folder (what mmcv / OpenCV decode)
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


def input_name(single_input: Union[str, np.ndarray, None], counter: int) -> str:
    """File stem of an input path, or the zero-padded running number of an array input
    (the name of an input on its own; a run names its inputs with :func:`output_names`)."""
    if isinstance(single_input, str) and single_input:
        return osp.splitext(osp.basename(single_input))[0]
    return str(counter).zfill(8)


def collect_images(folder: str, *, recursive: bool = False) -> Tuple[List[str], Dict[str, list]]:
    """The image files of ``folder`` (its subfolders too with ``recursive``), sorted, and
    what was skipped: ``{'subfolders': [...], 'non-image files': [...], 'hidden files':
    [...]}`` (paths below ``folder``; empty lists left out).

    Raises ``FileNotFoundError`` naming the folder and the endings read if it holds no image.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'input folder {folder} does not exist')
    images: List[str] = []
    skipped: Dict[str, list] = {'subfolders': [], 'non-image files': [], 'hidden files': []}
    for current, dirs, files in os.walk(folder):
        rel = osp.relpath(current, folder)
        dirs.sort()
        if not recursive:
            skipped['subfolders'] += sorted(dirs)
            dirs[:] = []
        for name in sorted(files):
            shown = name if rel == '.' else osp.join(rel, name)
            if name.startswith('.'):  # e.g. macOS ._x.jpg resource forks
                skipped['hidden files'].append(shown)
            elif name.lower().endswith(IMAGE_SUFFIXES):
                images.append(osp.join(current, name))
            else:
                skipped['non-image files'].append(shown)
    if not images:
        raise FileNotFoundError(
            f'no image files ({", ".join(IMAGE_SUFFIXES)}) in folder {folder}'
            + ('' if recursive or not skipped['subfolders'] else
               f' (its {len(skipped["subfolders"])} subfolders are read with --recursive)'))
    return sorted(images), {k: v for k, v in skipped.items() if v}


def skipped_note(folder: str, skipped: Dict[str, list], *, num_images: int) -> str:
    """One line saying how many images a folder gave and what was skipped, and why."""
    why = {'subfolders': 'not read without --recursive', 'non-image files':
           f'not ending in {"/".join(IMAGE_SUFFIXES)}', 'hidden files': 'names starting with .'}
    parts = []
    for kind, names in skipped.items():
        shown = ', '.join(names[:3]) + (', ...' if len(names) > 3 else '')
        parts.append(f'{len(names)} {kind} ({why[kind]}: {shown})')
    return f'{folder}: {num_images} images' + (f'; skipped {"; ".join(parts)}' if parts else '')


def output_names(inputs: Sequence[Union[str, np.ndarray]], *,
                 root: Optional[str] = None) -> List[str]:
    """The output name of every input of one run, checked to be unique before any work.

    Args:
        inputs: image paths (and / or arrays, named by their position).
        root: the folder the paths were listed from; None: the deepest folder holding
            every path.

    Raises ``ValueError`` naming both inputs when two would share a name.
    """
    paths = [osp.abspath(p) for p in inputs if isinstance(p, str)]
    if root is None and paths:
        root = osp.commonpath([osp.dirname(p) for p in paths])
    names = OutputNames(osp.abspath(root) if root else None,
                        hint='rename one of them or run them separately')
    out = []
    for i, single_input in enumerate(inputs):
        if isinstance(single_input, str):
            out.append(names(osp.abspath(single_input)))
        else:
            name = input_name(None, i)
            names.add(name, f'array input {i}')
            out.append(name)
    return out


def save_picture(img_out_dir: str, name: str, canvas: np.ndarray) -> str:
    """Write an RGB picture as ``<img_out_dir>/<name>.png``; returns the path."""
    path = osp.join(img_out_dir, f'{name}.png')
    mmcv.imwrite(np.ascontiguousarray(canvas[..., ::-1]), path)
    return path


def save_prediction_maps(pred_out_dir: str, name: str, *, sem_seg: Optional[np.ndarray],
                         anomaly_score: np.ndarray, img_path: str = '',
                         score_mode: Optional[str] = None) -> Dict[str, str]:
    """``<name>_pred.png`` (class ids, uint8) and ``<name>.npz`` (anomaly map, named
    ``score_mode``) in ``pred_out_dir``; returns their paths."""
    paths = {}
    if sem_seg is not None:
        paths['sem_seg'] = osp.join(pred_out_dir, f'{name}_pred.png')
        os.makedirs(osp.dirname(paths['sem_seg']), exist_ok=True)  # names may hold folders
        Image.fromarray(np.asarray(sem_seg).astype(np.uint8)).save(paths['sem_seg'])
    paths['anomaly_score'] = save_anomaly_map(osp.join(pred_out_dir, name), anomaly_score,
                                              img_path=img_path, score_mode=score_mode)
    return paths


def write_prediction(out_dir: str, name: str, image: np.ndarray, *, anomaly_score: np.ndarray,
                     sem_seg: Optional[np.ndarray] = None, img_path: str = '',
                     draw: bool = True, save_maps: bool = True,
                     score_name: Optional[str] = None, **draw_kwargs) -> Dict[str, str]:
    """Both of the above for one image: the picture of ``image`` (RGB) with its maps
    (``draw_kwargs`` go to :func:`~mmseg_uem.visualization.draw_anomaly_panels`) and the
    maps themselves, both naming ``score_name``; returns the written paths (keys 'vis',
    'sem_seg', 'anomaly_score')."""
    paths = {}
    if draw:
        canvas = draw_anomaly_panels(image, anomaly_score, pred=sem_seg, score_name=score_name,
                                     **draw_kwargs)
        paths['vis'] = save_picture(osp.join(out_dir, VIS_DIR), name, canvas)
    if save_maps:
        paths.update(save_prediction_maps(osp.join(out_dir, PRED_DIR), name, sem_seg=sem_seg,
                                          anomaly_score=anomaly_score, img_path=img_path,
                                          score_mode=score_name))
    return paths
