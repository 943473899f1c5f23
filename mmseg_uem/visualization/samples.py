"""Arrays of a segmentor's data sample, for :func:`~.panels.draw_anomaly_panels`.

Shape key: H, W score map size.
"""
from typing import Any, Dict, Optional

import numpy as np

from ..utils.samples import score_mode_of
from .panels import draw_anomaly_panels


def _field(sample: Any, key: str) -> Optional[np.ndarray]:
    """(H, W) numpy array of a PixelData field of a SegDataSample (or its dict), or None."""
    value = sample.get(key, None) if hasattr(sample, 'get') else getattr(sample, key, None)
    if value is None:
        return None
    data = value['data'] if isinstance(value, dict) else value.data
    if hasattr(data, 'detach'):
        data = data.detach().cpu()
        data = (data.float() if data.is_floating_point() else data).numpy()
    data = np.asarray(data)
    return data.reshape(data.shape[-2:])


def sample_arrays(data_sample: Any) -> Dict[str, Optional[np.ndarray]]:
    """dict(scores (H, W) float32, pred (H, W) or None, gt (H, W) or None) of a sample.

    ``pred_anomaly_score`` is required (a KeyError names the image otherwise).
    """
    scores = _field(data_sample, 'pred_anomaly_score')
    if scores is None:
        name = data_sample.get('img_path', '<unknown image>') if hasattr(data_sample, 'get') \
            else '<unknown image>'
        raise KeyError(f'no pred_anomaly_score for {name}: the segmentor must emit it '
                       '(UEMEncoderDecoder does)')
    return dict(scores=scores.astype(np.float32), pred=_field(data_sample, 'pred_sem_seg'),
                gt=_field(data_sample, 'gt_sem_seg'))


def draw_data_sample(image: np.ndarray, data_sample: Any, *, draw_gt: bool = True,
                     **kwargs) -> np.ndarray:
    """:func:`draw_anomaly_panels` of a data sample's prediction (and ground truth if
    ``draw_gt`` and present); ``kwargs`` go to it. The heat map's title names the score
    the prediction holds unless ``score_name`` is given."""
    arrays = sample_arrays(data_sample)
    kwargs.setdefault('score_name', score_mode_of(data_sample))
    return draw_anomaly_panels(image, arrays['scores'], pred=arrays['pred'],
                               gt=arrays['gt'] if draw_gt else None, **kwargs)
