"""The operating point file: the score threshold at a TPR, measured by ``tools/test.py``.

``OoDMetric(operating_point_file=...)`` writes it (``tools/test.py`` asks for it next to its
outputs: ``<--out>/operating_point.json`` or ``<work_dir>/operating_point.json``), and the
inferencer, ``tools/infer.py --threshold FILE`` and the test hook read it, so a picture can
show what the model flags at the paper's operating point (TPR 95%). JSON fields:

- ``threshold``: pixels with score >= threshold are flagged;
- ``tpr``: the requested TPR (e.g. 0.95); ``tpr_reached`` / ``fpr``: measured at the threshold;
- ``positives`` / ``negatives``: pixel counts it was measured on;
- optional context added by ``tools/test.py``: ``score``, ``config``, ``checkpoint``.
"""
import json
import math
import os
import os.path as osp
from typing import Optional, Tuple, Union

FILE_NAME = 'operating_point.json'


def save_operating_point(path: str, *, threshold: float, tpr: float, tpr_reached: float,
                         fpr: float, positives: int, negatives: int, **context) -> str:
    """Write the operating point json (fields: module docstring); returns ``path``."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    record = dict(threshold=float(threshold), tpr=float(tpr), tpr_reached=float(tpr_reached),
                  fpr=float(fpr), positives=int(positives), negatives=int(negatives), **context)
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)
    return path


def load_operating_point(path: str) -> dict:
    """Read an operating point json; errors name the file."""
    if osp.isdir(path):
        path = osp.join(path, FILE_NAME)
    if not osp.isfile(path):
        raise FileNotFoundError(f'operating point file {path} does not exist (tools/test.py '
                                f'writes {FILE_NAME} next to its outputs when FPR95 is computed)')
    try:
        with open(path) as f:
            record = json.load(f)
    except json.JSONDecodeError as err:
        raise ValueError(f'operating point file {path} is not valid json: {err}') from err
    threshold = record.get('threshold') if isinstance(record, dict) else None
    if not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise ValueError(f'operating point file {path} has no finite "threshold"')
    return record


def resolve_threshold(value: Union[float, str, None]) -> Tuple[Optional[float], Optional[str]]:
    """(threshold, description) of a number, a number as text, an operating point file (or
    the folder holding one), or None (no threshold)."""
    if value is None:
        return None, None
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError(f'threshold must be finite, got {value}')
        return float(value), None
    try:
        return resolve_threshold(float(value))
    except ValueError:
        pass
    record = load_operating_point(str(value))
    name = f'TPR {100 * record["tpr"]:.3g}%' if 'tpr' in record else 'operating point'
    if record.get('score'):
        name = f'{record["score"]} at {name}'
    return float(record['threshold']), name
