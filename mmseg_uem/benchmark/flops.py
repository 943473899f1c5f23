"""FLOPs of a call, and per-image FLOPs of the UEM segmentor's training steps."""
from functools import partial
from typing import Callable, Dict, List

import torch
from mmseg.registry import MODELS
from torch import Tensor
from torch.utils import flop_counter

from ..models.backbones.dinov2 import DINOv2
from .sections import train_step_fn


def _cpu_sdpa_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return flop_counter.sdpa_flop_count(query, key, value)


def count_flops(fn: Callable[[], None]) -> int:
    """FLOPs (2 per multiply-add) of the matrix products, convolutions and attention that
    ``fn`` runs, with torch's ``FlopCounterMode`` (plus the CPU attention kernel it lacks)."""
    mapping = {}
    cpu_sdpa = getattr(torch.ops.aten, '_scaled_dot_product_flash_attention_for_cpu', None)
    if cpu_sdpa is not None:
        mapping[cpu_sdpa] = _cpu_sdpa_flops  # FlopCounterMode passes shapes
    with flop_counter.FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        fn()
    return counter.get_total_flops()


def flop_rows(backbone: DINOv2, cfgs: Dict[str, dict], imgs: Tensor, samples) -> List[dict]:
    """Per-image GFLOP of the backbone forward and of each training step (loss + backward),
    split into backbone, frozen inlier head (stage 2) and the rest, and the ratio
    backbone / step: the images/s ratio if every part ran at the same FLOP rate."""
    imgs, samples = imgs[:1], samples[:1]
    with torch.no_grad():
        backbone_flops = count_flops(lambda: backbone(imgs))
    rows = [dict(name='backbone forward', total=backbone_flops, backbone=backbone_flops,
                 frozen_head=0, rest=0)]
    for name, cfg in cfgs.items():
        model = MODELS.build(cfg).to(imgs.device).train()
        step = train_step_fn(model, imgs, samples, 'fp32')
        total = count_flops(partial(step, update=False))
        frozen_head = 0
        if cfg['stage'] == 2:
            with torch.no_grad():
                feats = model.extract_feat(imgs)
                frozen_head = count_flops(partial(model.decode_head.forward, feats))
        rows.append(dict(name=f'stage-{cfg["stage"]} step {name}', total=total,
                         backbone=backbone_flops, frozen_head=frozen_head,
                         rest=total - backbone_flops - frozen_head))
    for row in rows:
        row['ratio'] = backbone_flops / row['total']
    return rows


def flops_markdown(rows: List[dict]) -> str:
    lines = ['| per image | GFLOP | backbone fwd | frozen inlier head fwd | trained part '
             'fwd + bwd | backbone / total |', '|' + '---|' * 6]
    for r in rows:
        lines.append(f"| {r['name']} | {r['total'] / 1e9:.1f} | {r['backbone'] / 1e9:.1f} | "
                     f"{r['frozen_head'] / 1e9:.1f} | {r['rest'] / 1e9:.1f} | "
                     f"{r['ratio']:.3f} |")
    lines += ['', 'GFLOP: 2 per multiply-add of matrix products, convolutions and attention '
              '(torch FlopCounterMode); backbone / total is the training step\'s images/s over '
              'the backbone forward\'s if every part ran at the same FLOP rate.']
    return '\n'.join(lines)
