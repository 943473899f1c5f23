"""Saving and loading per-image anomaly maps (``tools/test.py --out``) for offline re-scoring.

Shape key: H, W label size.

File format: one compressed ``<out_dir>/<name>.npz`` per image, loadable with
``np.load(path)`` (no pickle), where ``<name>`` is the image's path relative to the dataset's
image folder without its extension (``seqA/frame0`` for ``<img_path>/seqA/frame0.jpg``), so
images with one stem in different folders keep apart (:class:`OutputNames`; two images with
one name are an error, never an overwrite):
- ``score``    (H, W) float32 anomaly score, higher = more anomalous (``pred_anomaly_score``);
- ``label``    (H, W) uint8 ground truth as the dataset yields it (0 inlier, 1 anomaly,
               255 void); absent when the sample has no ``gt_sem_seg``;
- ``img_path`` 0-d unicode array, the source image path;
- ``score_mode`` 0-d unicode array, the score the map holds (e.g. ``LLR``), when known.

``<out_dir>/maps.json`` (:data:`MANIFEST`) lists every map the run wrote, the number of
images of the dataset and the score the maps hold; :func:`iter_anomaly_maps` reads exactly
those maps and refuses a folder with maps missing or stale maps of another run.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..utils.labels import IGNORE_INDEX
from ..utils.samples import score_mode_of
from .functional.pixel_metrics import split_by_label

SUFFIX = '.npz'
#: the run's list of maps, next to them
MANIFEST = 'maps.json'


def _get(sample: Any, key: str, default: Any = None) -> Any:
    """Field of a SegDataSample or of its ``to_dict()`` form."""
    if isinstance(sample, dict):
        return sample.get(key, default)
    return sample.get(key, default) if hasattr(sample, 'get') else getattr(sample, key, default)


def _pixel_data(sample: Any, key: str) -> Optional[Tensor]:
    field = _get(sample, key)
    if field is None:
        return None
    return field['data'] if isinstance(field, dict) else field.data


def output_name(img_path: str, img_root: Optional[str] = None) -> str:
    """Output name of an image: its path relative to ``img_root`` without the extension
    (POSIX separators), or its stem when ``img_root`` is None or does not contain it."""
    stem = osp.splitext(img_path)[0]
    if img_root:
        rel = osp.relpath(stem, img_root)
        if rel != '..' and not rel.startswith('..' + os.sep) and not osp.isabs(rel):
            return rel.replace(os.sep, '/')
    return osp.basename(stem)


class OutputNames:
    """Unique output names for the images of one run (``--out``, ``--show-dir``).

    Args:
        img_root: the dataset's image folder (``data_prefix['img_path']``); names keep the
            path below it. None: names are file stems.
        hint: what the error advises (default: for a dataset's images).

    Two different images that would get one name are an error naming both (an output
    would silently replace another); asking again for the same image gives the same name.
    """

    def __init__(self, img_root: Optional[str] = None, *, hint: Optional[str] = None) -> None:
        self.img_root = img_root
        self.hint = hint or ('give the images distinct names or keep them under one image '
                             'folder (data_prefix img_path)')
        self.images: Dict[str, str] = {}  # name -> img_path

    def __call__(self, img_path: str) -> str:
        name = output_name(img_path, self.img_root)
        self.add(name, img_path)
        return name

    def add(self, name: str, img_path: str) -> None:
        """Record ``name`` for ``img_path``; ValueError if another image has it."""
        other = self.images.setdefault(name, img_path)
        if other != img_path:
            raise ValueError(
                f'images {other} and {img_path} would both be saved as {name!r} (image folder '
                f'{self.img_root!r}): outputs must not overwrite each other; {self.hint}')


def anomaly_map_path(out_dir: str, name: str) -> str:
    """``<out_dir>/<name>.npz`` for an :func:`output_name`."""
    return osp.join(out_dir, *name.split('/')) + SUFFIX


def save_anomaly_map(path: str, score: np.ndarray, *, label: Optional[np.ndarray] = None,
                     img_path: str = '', score_mode: Optional[str] = None) -> str:
    """Write one anomaly map as ``.npz`` (the format of the module docstring).

    The array-level writer behind ``tools/test.py --out``, the inferencer and
    ``tools/infer.py --save-maps``, for callers without data samples (an exported model).

    Args:
        path: file to write (``.npz`` is appended if missing); its folder is created.
        score: (H, W) anomaly score (any float dtype; stored as float32).
        label: (H, W) ground truth with values in 0..255, or None.
        img_path: the source image, stored with the map.
        score_mode: the name of the score (e.g. 'LLR'), stored with the map if given.

    Returns:
        the written path.
    """
    if not path.endswith(SUFFIX):
        path += SUFFIX
    score = np.asarray(score)
    if score.ndim != 2 or not np.issubdtype(score.dtype, np.floating):
        raise ValueError(f'score map of {img_path or path} must be a 2-D float array, got '
                         f'{score.dtype} {score.shape}')
    arrays = dict(score=score.astype(np.float32), img_path=np.array(str(img_path)))
    if score_mode:
        arrays['score_mode'] = np.array(str(score_mode))
    if label is not None:
        label = np.asarray(label)
        if label.shape != score.shape:
            raise ValueError(f'label {label.shape} and score {score.shape} of '
                             f'{img_path or path} differ in size')
        if label.size and (int(label.min()) < 0 or int(label.max()) > 255):
            raise ValueError(f'labels of {img_path or path} do not fit uint8')
        arrays['label'] = label.astype(np.uint8)
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    np.savez_compressed(path, **arrays)
    return path


def save_anomaly_maps(out_dir: str, data_samples: Sequence[Any],
                      names: Optional[OutputNames] = None) -> List[str]:
    """Write one ``.npz`` per data sample (see the module docstring for the format).

    Args:
        out_dir: directory, created if needed.
        data_samples: SegDataSamples (or their dicts) with ``pred_anomaly_score`` (1, H, W),
            optional ``gt_sem_seg`` (1, H, W) and ``img_path``.
        names: the run's :class:`OutputNames` (checks that names are unique across
            calls); None: a fresh one naming files by stem.

    Returns:
        the written paths.
    """
    names = OutputNames() if names is None else names
    paths = []
    for sample in data_samples:
        img_path = str(_get(sample, 'img_path'))
        score = _pixel_data(sample, 'pred_anomaly_score')
        if score is None:
            raise KeyError(f'no pred_anomaly_score in the data sample of {img_path}')
        label = _pixel_data(sample, 'gt_sem_seg')
        if label is not None:
            label = label.detach().cpu().reshape(label.shape[-2:]).numpy()
        paths.append(save_anomaly_map(
            anomaly_map_path(out_dir, names(img_path)),
            score.detach().float().cpu().numpy().reshape(score.shape[-2:]),
            label=label, img_path=img_path, score_mode=score_mode_of(sample)))
    return paths


def write_manifest(out_dir: str, images: Dict[str, str], *, num_images: int,
                   score_mode: Optional[str] = None) -> str:
    """Write ``<out_dir>/maps.json``: the maps of a run (name -> image), the dataset's
    number of images, which :func:`iter_anomaly_maps` checks, and the score they hold."""
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, MANIFEST)
    with open(path, 'w') as f:
        json.dump(dict(score=score_mode, num_images=int(num_images),
                       maps=dict(sorted(images.items()))), f, indent=1)
    return path


def load_anomaly_map(path: str) -> Dict[str, Any]:
    """Read one ``.npz``: dict(score (H, W) float32, label (H, W) uint8 or None, img_path
    str, score_mode str or None)."""
    with np.load(path, allow_pickle=False) as data:
        return dict(score=data['score'], label=data['label'] if 'label' in data else None,
                    img_path=str(data['img_path']) if 'img_path' in data else '',
                    score_mode=str(data['score_mode']) if 'score_mode' in data else None)


def _saved_names(out_dir: str) -> List[str]:
    """Names of the ``.npz`` files under ``out_dir`` (recursively), sorted."""
    found = []
    for folder, _, files in os.walk(out_dir):
        for name in files:
            if name.endswith(SUFFIX):
                rel = osp.relpath(osp.join(folder, name), out_dir)[:-len(SUFFIX)]
                found.append(rel.replace(os.sep, '/'))
    return sorted(found)


def iter_anomaly_maps(out_dir: str) -> Iterator[Dict[str, Any]]:
    """Every map of a run directory, in name order, checked against its ``maps.json``.

    Raises if the manifest is missing or unreadable, if it lists fewer maps than the
    dataset had images (outputs overwrote each other), or if maps it lists are missing or
    maps it does not list are present (another run's), naming the files.
    """
    path = osp.join(out_dir, MANIFEST)
    if not osp.isfile(path):
        if not osp.isdir(out_dir) or not _saved_names(out_dir):
            raise FileNotFoundError(f'no {SUFFIX} anomaly maps in {out_dir}')
        raise FileNotFoundError(
            f'{path} is missing: {out_dir} was not written by `tools/test.py --out` (or the '
            'run did not finish), so there is no way to check that every image has its map')
    try:
        with open(path) as f:
            manifest = json.load(f)
        expected, num_images = sorted(manifest['maps']), int(manifest['num_images'])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f'{path} is not a valid anomaly-map manifest ({err!r})') from err
    if len(expected) != num_images:
        raise ValueError(f'{path}: the run wrote {len(expected)} maps for {num_images} images')
    found = _saved_names(out_dir)
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        raise ValueError(
            f'{out_dir} does not hold the {num_images} maps its {MANIFEST} lists: missing '
            f'{missing[:10]} ({len(missing)}), not listed {extra[:10]} ({len(extra)}; maps of '
            'another run? use a fresh --out folder)')
    for name in expected:
        yield load_anomaly_map(anomaly_map_path(out_dir, name))


def manifest_score(out_dir: str) -> Optional[str]:
    """The score a run directory's maps hold, as its ``maps.json`` names it (None for maps
    written before the manifest named it)."""
    try:
        with open(osp.join(out_dir, MANIFEST)) as f:
            return json.load(f).get('score')
    except (OSError, ValueError, AttributeError):
        return None


def load_pooled_scores(out_dir: str, *,
                       ignore_index: int = IGNORE_INDEX) -> Tuple[Tensor, Tensor]:
    """Pooled positive and negative scores of a run directory (void dropped, checked).

    Returns:
        (Pp,) and (Pn,) float32 tensors.
    """
    pos, neg = [], []
    for item in iter_anomaly_maps(out_dir):
        if item['label'] is None:
            raise ValueError(f'{item["img_path"]} was saved without labels: cannot score it')
        p, n = split_by_label(torch.from_numpy(item['score']), torch.from_numpy(item['label']),
                              ignore_index=ignore_index, name=item['img_path'])
        pos.append(p)
        neg.append(n)
    return torch.cat(pos), torch.cat(neg)
