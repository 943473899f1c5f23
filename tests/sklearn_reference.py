"""The pixel metrics as sklearn computes them: the independent reference the metric tests
compare ``mmseg_uem.evaluation`` with (exact per-image, pooled and fuzzed values)."""
import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

VOID = 255


def sklearn_pixel_metrics(scores, labels, *, tpr: float = 0.95, void: int = VOID) -> dict:
    """AP, AUROC and the FPR at the first (highest) threshold whose TPR reaches ``tpr``
    (fractions) of the non-void pixels (label 1 anomaly, 0 inlier), in float64. Arrays or CPU
    tensors of any shape; +-inf scores are clipped to +-1e300 (sklearn rejects inf; clipping
    keeps the order and the ties)."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    valid = labels != void
    s, y = np.clip(scores[valid], -1e300, 1e300), labels[valid]
    fpr, tprs, _ = roc_curve(y, s, drop_intermediate=False)
    return dict(AP=average_precision_score(y, s), AUROC=roc_auc_score(y, s),
                FPR95=float(fpr[np.argmax(tprs >= tpr)]))
