"""Anomaly instances from a score map, written in the OoDIS submission layout and as JSON.

Shape key: H, W image size.

Instances are the 8-connected components (3x3 structure, as the SMIYC component metrics) of
``score >= threshold``, components under ``min_size`` pixels dropped, each scored by the mean
(default) or the max of its pixels' scores.

OoDIS layout (kumuji/anomaly-benchmark-suite: ``verify_submission.py``,
``scoring_program/preprocess_files.py``, ``assets/expected_files.txt``; read for these facts):
one folder per dataset (``fishyscapes``, ``roadanomaly``, ``roadobstacle``), and per image

- ``<stem>_instanceIds_pred.txt``: one line per instance, ``<mask file> <class> <score>``
  (the tool takes the first field as the mask and the last as the score; class 1 = anomaly);
- ``<stem>_instanceIds_<N>_1.png``: the instance's binary mask (8-bit, 255 inside, 0 outside,
  full image size), N = 0, 1, ... in descending score order.

``<stem>`` is the image's frame id (its file stem without LostAndFound's ``_leftImg8bit``);
Fishyscapes frames carry ``_gtCoarse`` after it, as the benchmark's file list does. The
tool refuses a ``.txt`` without a line, so an image without instances gets one empty mask
with score 0 (it matches no ground truth and costs nothing at any score level above 0);
``instances.json`` lists it with ``"empty": true``.

``instances.json`` (one per dataset folder): ``{"score" (the score the maps hold, e.g.
"LLR"; null when they do not name it), "threshold", "min_size", "score_reduce",
"images": [{"image", "txt", "instances": [{"mask", "box": [x0, y0, x1, y1] (inclusive
pixel indices), "area", "score", "score_mean", "score_max"}]}]}``.
"""
import json
import os
import os.path as osp
from typing import Any, Dict, List, Optional

import numpy as np
from PIL import Image
from scipy import ndimage

from .functional.component_metrics import EIGHT_CONNECTED
from .smiyc_submission import frame_id

#: our dataset (type, SMIYC track) -> the OoDIS folder
OODIS_FOLDERS: Dict[tuple, str] = {
    ('FishyscapesLaFDataset', None): 'fishyscapes',
    ('SMIYCDataset', 'anomaly'): 'roadanomaly',
    ('SMIYCDataset', 'obstacle'): 'roadobstacle',
}
#: what Fishyscapes stems carry before ``_instanceIds`` in the benchmark's file list
STEM_SUFFIX = {'fishyscapes': '_gtCoarse'}
ANOMALY_CLASS = 1
JSON_NAME = 'instances.json'


def oodis_folder(dataset_cfg: dict) -> str:
    """The OoDIS folder of a test dataset config; a ValueError lists the known ones."""
    track = dataset_cfg.get('track', 'anomaly') if dataset_cfg.get('type') == 'SMIYCDataset' \
        else None
    key = (dataset_cfg.get('type'), track)
    if key not in OODIS_FOLDERS:
        known = ', '.join(f'{t}{f" track={k}" if k else ""} -> {n}'
                          for (t, k), n in OODIS_FOLDERS.items())
        raise ValueError(f'{key[0]} is not an OoDIS dataset ({known}); pass --oodis-dataset '
                         'NAME to name its folder yourself')
    return OODIS_FOLDERS[key]


def anomaly_instances(score: np.ndarray, *, threshold: float, min_size: int = 1,
                      void: Optional[np.ndarray] = None,
                      score_reduce: str = 'mean') -> List[Dict[str, Any]]:
    """Connected components of ``score >= threshold`` as instances, highest score first.

    Args:
        score: (H, W) anomaly scores.
        threshold: pixels with score >= threshold belong to an instance.
        min_size: components with fewer pixels are dropped.
        void: optional (H, W) bool mask of pixels never flagged.
        score_reduce: 'mean' or 'max' of the component's scores: its ``score``.

    Returns:
        list of dicts: ``mask`` (H, W) bool, ``box`` [x0, y0, x1, y1] inclusive, ``area``,
        ``score``, ``score_mean``, ``score_max`` (Python floats / ints).
    """
    if score_reduce not in ('mean', 'max'):
        raise ValueError(f"score_reduce must be 'mean' or 'max', got {score_reduce!r}")
    score = np.asarray(score)
    if score.ndim != 2:
        raise ValueError(f'score must be (H, W), got {score.shape}')
    flagged = score >= threshold
    if void is not None:
        flagged &= ~np.asarray(void, bool)
    comp, num = ndimage.label(flagged, structure=EIGHT_CONNECTED)
    instances = []
    for index, window in enumerate(ndimage.find_objects(comp), start=1):
        if window is None:
            continue
        mask_in_box = comp[window] == index
        area = int(mask_in_box.sum())
        if area < min_size:
            continue
        values = score[window][mask_in_box].astype(np.float64)
        mask = np.zeros(score.shape, bool)
        mask[window] = mask_in_box
        rows, cols = window
        mean, peak = float(values.mean()), float(values.max())
        instances.append(dict(mask=mask, box=[cols.start, rows.start, cols.stop - 1,
                                              rows.stop - 1],
                              area=area, score=mean if score_reduce == 'mean' else peak,
                              score_mean=mean, score_max=peak))
    instances.sort(key=lambda inst: -inst['score'])
    return instances


def oodis_stem(img_path: str, folder: str) -> str:
    """The OoDIS name stem of an image: frame id (+ ``_gtCoarse`` for Fishyscapes)."""
    return frame_id(img_path) + STEM_SUFFIX.get(folder, '')


def write_oodis(maps, out_dir: str, *, folder: str, threshold: float, min_size: int = 1,
                score_reduce: str = 'mean') -> Dict[str, Any]:
    """Write the OoDIS files of ``maps`` to ``<out_dir>/<folder>/`` (layout: module doc).

    Args:
        maps: iterable of :func:`~mmseg_uem.evaluation.io.load_anomaly_map` dicts
            (``score``, ``img_path``, optional ``label``: its void pixels are never flagged).
        out_dir: the submission root (zip its content).
        folder: the dataset folder (``fishyscapes``, ``roadanomaly``, ``roadobstacle``).
        threshold, min_size, score_reduce: see :func:`anomaly_instances`.

    Returns:
        dict: ``folder`` path, ``images``, ``instances`` (count), ``empty`` (images without
        an instance), ``json`` path, ``score`` (the maps' ``score_mode``).

    Raises ``ValueError`` when the maps hold different scores: their instance scores would
    not be on one scale.
    """
    if not folder or os.sep in folder:
        raise ValueError(f'OoDIS dataset folder must be a folder name, got {folder!r}')
    root = osp.join(out_dir, folder)
    os.makedirs(root, exist_ok=True)
    records, total, empty, stems, modes = [], 0, 0, {}, {}
    for item in maps:
        img_path = str(item['img_path'])
        modes.setdefault(item.get('score_mode'), img_path)
        if len(modes) > 1:
            shown = ', '.join(f'{m} ({path})' for m, path in modes.items())
            raise ValueError(f'the maps hold different scores: {shown}; one OoDIS submission '
                             'ranks instances of one score')
        stem = oodis_stem(img_path, folder)
        if stem in stems:
            raise ValueError(f'{img_path} and {stems[stem]} have one OoDIS name {stem}')
        stems[stem] = img_path
        score = np.asarray(item['score'])
        label = item.get('label')
        void = None if label is None else np.asarray(label) == 255
        instances = anomaly_instances(score, threshold=threshold, min_size=min_size,
                                      void=void, score_reduce=score_reduce)
        lines, listed = [], []
        if not instances:
            empty += 1
            instances = [dict(mask=np.zeros(score.shape, bool), box=None, area=0, score=0.0,
                              score_mean=None, score_max=None, empty=True)]
        for n, inst in enumerate(instances):
            mask_name = f'{stem}_instanceIds_{n}_{ANOMALY_CLASS}.png'
            Image.fromarray(inst.pop('mask').astype(np.uint8) * 255).save(
                osp.join(root, mask_name))
            lines.append(f'{mask_name} {ANOMALY_CLASS} {inst["score"]:.9g}')
            listed.append(dict(mask=mask_name, **inst))
        total += 0 if listed[0].get('empty') else len(listed)
        txt = f'{stem}_instanceIds_pred.txt'
        with open(osp.join(root, txt), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        records.append(dict(image=img_path, txt=txt, instances=listed))
    score_name = next(iter(modes), None)
    json_path = osp.join(root, JSON_NAME)
    with open(json_path, 'w') as f:
        json.dump(dict(score=score_name, threshold=float(threshold), min_size=int(min_size),
                       score_reduce=score_reduce, images=records), f, indent=1)
    return dict(folder=root, images=len(records), instances=total, empty=empty,
                json=json_path, score=score_name)


def read_oodis(folder: str) -> Dict[str, List[Dict[str, Any]]]:
    """Read an OoDIS folder back: per ``.txt`` its instances (``mask`` (H, W) bool,
    ``score``, ``class``); errors name the file."""
    out = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith('_instanceIds_pred.txt'):
            continue
        instances = []
        with open(osp.join(folder, name)) as f:
            for line in f.read().split('\n'):
                if not line.strip():
                    continue
                fields = line.split(' ')
                if len(fields) != 3:
                    raise ValueError(f'{osp.join(folder, name)}: line {line!r} is not '
                                     '"<mask> <class> <score>"')
                path = osp.join(folder, fields[0])
                if not osp.isfile(path):
                    raise FileNotFoundError(f'{path}, listed in {name}, is missing')
                mask = np.asarray(Image.open(path))
                instances.append(dict(mask=mask > 0, score=float(fields[2]),
                                      cls=int(fields[1]), values=set(np.unique(mask).tolist())))
        out[name] = instances
    return out
