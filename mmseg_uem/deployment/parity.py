"""onnxruntime vs PyTorch on the same windows: the numbers the parity checks report.

Shape key: B batch, K inlier classes, h x w window.

Used by the tests, ``tools/deployment/check_parity.py`` and
``tools/benchmarks/onnx_speed.py``. Random models need Gaussians that look trained: at
construction every GMM component has std 1 and a random unit mean, so in D dims every unit
embedding is about equally far from all of them (squared distance ~2) and the K class maxima
differ by hundredths of a nat; the GMM heads' LayerNorm over classes then divides float32
rounding by that spread. Trained GMMs (stds ~0.1) separate the classes by many nats.
"""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.utils.postprocess import split_maps
from ..models.utils.scores import anomaly_score

#: acceptance bound of the anomaly score's max abs difference
SCORE_TOLERANCE = 1e-4
#: top-2 class-score margin under which a different argmax counts as a tie
TIE_MARGIN = 1e-5


def spread_gaussians(model: nn.Module, *, seed: int = 0, std_range=(0.05, 0.3)) -> int:
    """Give every GMM classifier of ``model`` trained-like Gaussians: unit-norm random
    means and stds uniform in ``std_range``. Returns the number of classifiers changed."""
    from ..models.decode_heads.gmm_classifier import GMMClassifier

    g = torch.Generator().manual_seed(seed)
    changed = 0
    for module in model.modules():
        if isinstance(module, GMMClassifier):
            means = torch.randn(module.means.shape, generator=g)
            low, high = std_range
            stds = low + (high - low) * torch.rand(module.stds.shape, generator=g)
            with torch.no_grad():
                module.means.copy_(F.normalize(means, dim=-1))
                module.stds.copy_(stds)
            changed += 1
    return changed


def compare_maps(reference: Tensor, other: Tensor, *, num_classes: int,
                 score: str) -> Dict[str, float]:
    """Compare two (B, K [+ 2], h, w) F|O stacks through the score and the argmax.

    Returns ``score_max_abs`` (anomaly score), ``maps_max_abs`` (F and O), ``pixels``,
    ``pred_mismatch`` (pixels whose argmax differs) and ``pred_mismatch_not_tie`` (of
    those, the ones whose top-2 margin in ``reference`` is at least ``TIE_MARGIN``).
    """
    ref_f, ref_o = split_maps(reference.float(), num_classes)
    oth_f, oth_o = split_maps(other.float(), num_classes)
    ref_score = anomaly_score(ref_f, ref_o, mode=score)
    oth_score = anomaly_score(oth_f, oth_o, mode=score)
    out = compare_predictions(ref_score, oth_score, ref_f.argmax(1, keepdim=True),
                              oth_f.argmax(1, keepdim=True), reference_scores=ref_f)
    out['maps_max_abs'] = float((reference.float() - other.float()).abs().max())
    return out


def compare_predictions(ref_score: Tensor, score: Tensor, ref_pred: Tensor, pred: Tensor, *,
                        reference_scores: Optional[Tensor] = None) -> Dict[str, float]:
    """Max abs score difference and argmax mismatches ((B, 1, h, w) each); ties need the
    reference's class scores (B, K, h, w) to be told apart (else every mismatch counts)."""
    if ref_score.shape != score.shape or ref_pred.shape != pred.shape:
        raise ValueError(f'shapes differ: {tuple(ref_score.shape)} vs {tuple(score.shape)}, '
                         f'{tuple(ref_pred.shape)} vs {tuple(pred.shape)}')
    mismatch = ref_pred.long() != pred.long()  # (B, 1, h, w)
    not_tie = mismatch
    if reference_scores is not None:
        top2 = reference_scores.float().topk(2, dim=1).values  # (B, 2, h, w)
        margin = (top2[:, :1] - top2[:, 1:2])
        not_tie = mismatch & (margin >= TIE_MARGIN)
    return dict(score_max_abs=float((ref_score.float() - score.float()).abs().max()),
                pixels=int(mismatch.numel()), pred_mismatch=int(mismatch.sum()),
                pred_mismatch_not_tie=int(not_tie.sum()))


def export_and_compare(model: nn.Module, path: str, *, window, batch_size: int = 2,
                       dynamic_batch: bool = False, seed: int = 0,
                       num_threads: Optional[int] = None) -> Dict[str, float]:
    """Export ``model``'s 'maps' to ``path``, run random normal windows (B, 3, h, w) through
    onnxruntime and PyTorch, and compare (:func:`compare_maps`, with the model's score).

    Also returns ``export_s`` (export + check time) and ``onnx_mib`` (file size).
    """
    import os
    import time

    import onnxruntime as ort

    from .export import export_onnx
    from .wrapper import INPUT_NAME

    start = time.perf_counter()
    export_onnx(model, path, window=window, batch_size=batch_size, dynamic_batch=dynamic_batch)
    export_s = time.perf_counter() - start
    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    x = torch.randn(batch_size, 3, *window, generator=torch.Generator().manual_seed(seed))
    got = torch.cat([torch.from_numpy(o) for o in session.run(None, {INPUT_NAME: x.numpy()})], 1)
    with torch.no_grad():
        ref = model.encode_decode(x, [])
    res = compare_maps(ref, got, num_classes=model.decode_head.out_channels, score=model.score)
    res.update(export_s=export_s, onnx_mib=os.path.getsize(path) / 2**20)
    return res
