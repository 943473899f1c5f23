"""The precision rule and the masked reduction every numeric module of ``models/`` uses."""
import torch
from torch import Tensor


def compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype numerics run in: float64 stays float64 (the reference tests), every lower
    precision (float16 / bfloat16 under autocast, float32) is computed in float32."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def masked_mean(values: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``values`` over ``mask`` (same shape); 0 (with a graph) when the mask is empty.

    A masked sum over the count (at least 1), not boolean indexing: no host synchronisation.
    Values off the mask never enter the sum (a -inf there gives no NaN).
    """
    return torch.where(mask, values, values.new_zeros(())).sum() / mask.sum().clamp(min=1)
