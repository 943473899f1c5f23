"""Saving and loading per-image anomaly maps (``tools/test.py --out``) for offline re-scoring.

Shape key: H, W label size.

File format: one compressed ``<out_dir>/<image stem>.npz`` per image, loadable with
``np.load(path)`` (no pickle):
- ``score``    (H, W) float32 anomaly score, higher = more anomalous (``pred_anomaly_score``);
- ``label``    (H, W) uint8 ground truth as the dataset yields it (0 inlier, 1 anomaly,
               255 void); absent when the sample has no ``gt_sem_seg``;
- ``img_path`` 0-d unicode array, the source image path.
"""
import os
import os.path as osp
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .functional.pixel_metrics import split_by_label

SUFFIX = '.npz'


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


def anomaly_map_path(out_dir: str, img_path: str) -> str:
    """``<out_dir>/<stem of img_path>.npz`` (stems are unique in all supported OoD sets)."""
    return osp.join(out_dir, osp.splitext(osp.basename(img_path))[0] + SUFFIX)


def save_anomaly_map(path: str, score: np.ndarray, *, label: Optional[np.ndarray] = None,
                     img_path: str = '') -> str:
    """Write one anomaly map as ``.npz`` (the format of the module docstring).

    The array-level writer behind ``tools/test.py --out``, the inferencer and
    ``tools/infer.py --save-maps``, for callers without data samples (an exported model).

    Args:
        path: file to write (``.npz`` is appended if missing); its folder is created.
        score: (H, W) anomaly score (any float dtype; stored as float32).
        label: (H, W) ground truth with values in 0..255, or None.
        img_path: the source image, stored with the map.

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


def save_anomaly_maps(out_dir: str, data_samples: Sequence[Any]) -> List[str]:
    """Write one ``.npz`` per data sample (see the module docstring for the format).

    Args:
        out_dir: directory, created if needed.
        data_samples: SegDataSamples (or their dicts) with ``pred_anomaly_score`` (1, H, W),
            optional ``gt_sem_seg`` (1, H, W) and ``img_path``.

    Returns:
        the written paths.
    """
    os.makedirs(out_dir, exist_ok=True)
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
            anomaly_map_path(out_dir, img_path),
            score.detach().float().cpu().numpy().reshape(score.shape[-2:]),
            label=label, img_path=img_path))
    return paths


def load_anomaly_map(path: str) -> Dict[str, Any]:
    """Read one ``.npz``: dict(score (H, W) float32, label (H, W) uint8 or None, img_path str)."""
    with np.load(path, allow_pickle=False) as data:
        return dict(score=data['score'], label=data['label'] if 'label' in data else None,
                    img_path=str(data['img_path']) if 'img_path' in data else '')


def iter_anomaly_maps(out_dir: str) -> Iterator[Dict[str, Any]]:
    """Every saved map of a run directory, in file-name order."""
    names = sorted(n for n in os.listdir(out_dir) if n.endswith(SUFFIX))
    if not names:
        raise FileNotFoundError(f'no {SUFFIX} anomaly maps in {out_dir}')
    for name in names:
        yield load_anomaly_map(osp.join(out_dir, name))


def load_pooled_scores(out_dir: str, *, ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
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
