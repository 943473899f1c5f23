"""Foundation backbones side by side: DINOv3 ViT/16 against the DINOv2 ViT/14-reg of the same
size, each at its own window (the paper's 518x1036 for patch 14, 512x1024 for patch 16, both
(37, 74) and (32, 64) patch grids of a 1024x2048 frame's half).

Shape key: B batch, h x w window.

Per backbone: GFLOP per image of the forward (torch ``FlopCounterMode``, as
:func:`~mmseg_uem.benchmark.flops.count_flops`) and measured images/s per precision and
attention kernel: 'auto' (PyTorch's choice for ``scaled_dot_product_attention``: the fused
flash kernel where the device has one) and 'math' (the unfused softmax(q k^T) v, what an
explicit attention computes). Random weights, synthetic inputs: speed does not depend on them.
"""
from contextlib import nullcontext
from functools import partial
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..models.backbones import DINOv2, DINOv3
from .flops import count_flops
from .measure import autocast, measure, resident_mib, table_row

#: the DINOv2 ViT/14 with registers of the same width as each DINOv3 ViT/16 size
DINOV2_COUNTERPART = {'vits16': 'vits14_reg', 'vitb16': 'vitb14_reg', 'vitl16': 'vitl14_reg'}
WINDOWS = {'DINOv2': (518, 1036), 'DINOv3': (512, 1024)}
ATTENTION = {'auto': None, 'math': SDPBackend.MATH}


def pair(arch: str, *,
         out_indices: Optional[Sequence[int]] = None) -> Dict[str, Tuple[nn.Module, tuple]]:
    """{label: (backbone, window)} for a DINOv3 arch and its DINOv2 counterpart."""
    if arch not in DINOV2_COUNTERPART:
        raise ValueError(f'no DINOv2 counterpart for DINOv3 arch {arch!r}; choose from '
                         f'{sorted(DINOV2_COUNTERPART)}')
    v3 = DINOv3(arch, out_indices=out_indices)
    v2 = DINOv2(DINOV2_COUNTERPART[arch], out_indices=v3.out_indices)
    return {f'DINOv3 {arch}': (v3, WINDOWS['DINOv3']),
            f'DINOv2 {DINOV2_COUNTERPART[arch]}': (v2, WINDOWS['DINOv2'])}


def compare_backbones(models: Dict[str, Tuple[nn.Module, tuple]], *, batch: int,
                      precisions: Sequence[str], attention: Sequence[str],
                      device: torch.device, runs: int, warmup: int) -> List[dict]:
    """Rows (:func:`~mmseg_uem.benchmark.measure.table_row`) with ``window``, ``tokens``
    and ``gflop`` (per image) added, for every model x precision x attention kernel."""
    unknown = set(attention) - set(ATTENTION)
    if unknown:
        raise ValueError(f'attention kernels are {sorted(ATTENTION)}, got {sorted(unknown)}')
    gen = torch.Generator().manual_seed(0)
    inputs, gflop = {}, {}
    for name, (model, window) in models.items():
        model.to(device).eval()
        inputs[name] = torch.randn(batch, 3, *window, generator=gen).to(device)
        with torch.no_grad():
            gflop[name] = count_flops(partial(model, inputs[name][:1])) / 1e9

    def forward(name, precision, kernel):
        model, x = models[name][0], inputs[name]

        def call():
            backend = ATTENTION[kernel]
            ctx = sdpa_kernel(backend) if backend is not None else nullcontext()
            with ctx, torch.no_grad(), autocast(device, precision):
                model(x)
        return call
    fns = {(name, p, k): forward(name, p, k)
           for p in precisions for k in attention for name in models}
    res = measure(fns, device=device, runs=runs, warmup=warmup)
    rows = []
    for (name, p, k), r in res.items():
        model, window = models[name]
        p_size = model.patch_size
        tokens = -(-window[0] // p_size) * -(-window[1] // p_size)
        rows.append(table_row('backbone forward', name, p, batch, r,
                              resident=resident_mib(model), attention=k,
                              window=f'{window[0]}x{window[1]}', tokens=tokens,
                              gflop=gflop[name]))
    return rows


def comparison_markdown(rows: List[dict]) -> str:
    lines = ['| backbone | window | patch tokens | GFLOP / image | precision | attention | '
             'images/s (median) | images/s (best) | vs first |', '|' + '---|' * 9]
    base = {}
    for r in rows:
        key = (r['precision'], r['attention'])
        base.setdefault(key, r['images_per_s'])
        lines.append(f"| {r['name']} | {r['window']} | {r['tokens']} | {r['gflop']:.1f} | "
                     f"{r['precision']} | {r['attention']} | {r['images_per_s']:.3g} | "
                     f"{r['best_images_per_s']:.3g} | {r['images_per_s'] / base[key]:.2f} |")
    lines += ['', 'GFLOP: 2 per multiply-add of matrix products, convolutions and attention '
              '(torch FlopCounterMode), one image. attention: scaled_dot_product_attention '
              "with PyTorch's kernel choice (auto) or the unfused math kernel. vs first: "
              'images/s over the first backbone\'s in the same precision and attention.']
    return '\n'.join(lines)
