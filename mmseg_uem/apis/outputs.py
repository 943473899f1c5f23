"""What every prediction front end writes per image, so they all write the same files.

``UEMInferencer``, ``tools/infer.py`` and the exported-model runner call these with plain
arrays: ``<out_dir>/vis/<name>.png`` (the picture of :mod:`mmseg_uem.visualization`),
``<out_dir>/pred/<name>_pred.png`` (class ids, as mmseg's inferencer writes them) and
``<out_dir>/pred/<name>.npz`` (the anomaly map, :func:`mmseg_uem.evaluation.io.save_anomaly_map`).
"""
import os
import os.path as osp
from typing import Dict, Optional, Union

import mmcv
import numpy as np
from PIL import Image

from ..evaluation.io import save_anomaly_map
from ..visualization import draw_anomaly_panels

VIS_DIR, PRED_DIR = 'vis', 'pred'


def input_name(single_input: Union[str, np.ndarray, None], counter: int) -> str:
    """File stem of an input path, or the zero-padded running number of an array input."""
    if isinstance(single_input, str) and single_input:
        return osp.splitext(osp.basename(single_input))[0]
    return str(counter).zfill(8)


def save_picture(img_out_dir: str, name: str, canvas: np.ndarray) -> str:
    """Write an RGB picture as ``<img_out_dir>/<name>.png``; returns the path."""
    path = osp.join(img_out_dir, f'{name}.png')
    mmcv.imwrite(np.ascontiguousarray(canvas[..., ::-1]), path)
    return path


def save_prediction_maps(pred_out_dir: str, name: str, *, sem_seg: Optional[np.ndarray],
                         anomaly_score: np.ndarray, img_path: str = '') -> Dict[str, str]:
    """``<name>_pred.png`` (class ids, uint8) and ``<name>.npz`` (anomaly map) in
    ``pred_out_dir``; returns their paths."""
    paths = {}
    if sem_seg is not None:
        paths['sem_seg'] = osp.join(pred_out_dir, f'{name}_pred.png')
        os.makedirs(pred_out_dir, exist_ok=True)
        Image.fromarray(np.asarray(sem_seg).astype(np.uint8)).save(paths['sem_seg'])
    paths['anomaly_score'] = save_anomaly_map(osp.join(pred_out_dir, name), anomaly_score,
                                              img_path=img_path)
    return paths


def write_prediction(out_dir: str, name: str, image: np.ndarray, *, anomaly_score: np.ndarray,
                     sem_seg: Optional[np.ndarray] = None, img_path: str = '',
                     draw: bool = True, save_maps: bool = True,
                     **draw_kwargs) -> Dict[str, str]:
    """Both of the above for one image: the picture of ``image`` (RGB) with its maps
    (``draw_kwargs`` go to :func:`~mmseg_uem.visualization.draw_anomaly_panels`) and the
    maps themselves; returns the written paths (keys 'vis', 'sem_seg', 'anomaly_score')."""
    paths = {}
    if draw:
        canvas = draw_anomaly_panels(image, anomaly_score, pred=sem_seg, **draw_kwargs)
        paths['vis'] = save_picture(osp.join(out_dir, VIS_DIR), name, canvas)
    if save_maps:
        paths.update(save_prediction_maps(osp.join(out_dir, PRED_DIR), name, sem_seg=sem_seg,
                                          anomaly_score=anomaly_score, img_path=img_path))
    return paths
