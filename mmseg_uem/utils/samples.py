"""What this project adds to mmseg's data samples, read the same way everywhere.

A predicted ``pred_anomaly_score`` (``PixelData``, (1, H, W)) names the score mode it was
computed with in its metainfo (``SCORE_MODE_KEY``), so that every output made from a
prediction (metric tables, operating points, pictures, saved maps, benchmark files) can say
which score it holds.
"""
from typing import Any, Optional

SCORE_MODE_KEY = 'score_mode'


def score_mode_of(sample: Any) -> Optional[str]:
    """The score mode of a data sample's ``pred_anomaly_score`` (a ``SegDataSample`` or its
    ``to_dict()`` form); None if the sample does not say."""
    field = sample.get('pred_anomaly_score') if hasattr(sample, 'get') else None
    if field is None:
        return None
    return field.get(SCORE_MODE_KEY) if hasattr(field, 'get') else None
