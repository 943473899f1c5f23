"""Benchmark sections of the UEM segmentor: backbone forward, training steps, inference.

Shape key: B batch, D ViT dim, K inlier classes, H x W image.

Everything runs on synthetic inputs with random weights (speed does not depend on them):
the frozen backbone alone (ours and mmpretrain's / timm's ``VisionTransformer`` carrying
the same weights), stage-1 and stage-2 training steps, and sliding-window inference with
mmseg's one-window loop against our batched windows. Each section returns table rows
(:func:`~mmseg_uem.benchmark.measure.table_row`).
"""
from typing import Callable, Dict, List, Sequence

import torch
from mmengine.optim import OptimWrapper
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from torch import Tensor

from ..models.backbones.dinov2 import DINOv2
from ..models.utils.postprocess import split_maps
from ..models.utils.scores import anomaly_score
from .measure import autocast, measure, resident_mib, table_row
from .twins import mmpretrain_twin, timm_twin


def bench_backbone(backbone: DINOv2, imgs: Tensor, *, precisions: Sequence[str],
                   runs: int, warmup: int) -> List[dict]:
    """Forward of the frozen backbone alone: ours and mmpretrain's twin, per precision."""
    models = {'ours (DINOv2)': backbone}
    for name, make in (('mmpretrain VisionTransformer', mmpretrain_twin),
                       ('timm VisionTransformer', timm_twin)):
        twin = make(backbone)
        if twin is not None:
            models[name] = twin.to(imgs.device)
    # same weights => same final map at the stored grid (no pos-embed resizing); mmpretrain
    # has no registers, so its map differs for _reg archs
    diffs = {}
    side = int(round((backbone.pos_embed.shape[1] - 1) ** 0.5)) * backbone.patch_size
    native = torch.randn(1, 3, side, side, device=imgs.device)
    with torch.no_grad():
        ref = backbone(native)[-1]
        for name, model in models.items():
            diffs[name] = (ref - model(native)[-1]).abs().max().item()

    def forward(model, precision):
        def call():
            with torch.no_grad(), autocast(imgs.device, precision):
                model(imgs)
        return call
    fns = {(name, p): forward(m, p) for p in precisions for name, m in models.items()}
    res = measure(fns, device=imgs.device, runs=runs, warmup=warmup)
    return [table_row('backbone forward', name, p, imgs.shape[0], res[name, p],
                 resident=resident_mib(models[name]),
                 max_abs_diff=None if name.startswith('ours') else diffs[name])
            for name, p in fns]


def train_step_fn(model, imgs: Tensor, samples, precision: str) -> Callable[..., None]:
    """One loss + backward + AdamW step (parameters that require grad only); the optimizer
    is ``step.optimizer``. ``step(update=False)`` stops after the backward pass."""
    params = [p for p in model.parameters() if p.requires_grad]
    wrapper = OptimWrapper(torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0))
    model.train()

    def step(update: bool = True) -> None:
        with autocast(imgs.device, precision):
            losses = model.loss(imgs, samples)
        total, _ = model.parse_losses(losses)
        if update:
            wrapper.update_params(total)
        else:
            wrapper.backward(total)
            wrapper.zero_grad()
    step.optimizer = wrapper.optimizer
    return step


def bench_training(cfgs: Dict[str, dict], imgs: Tensor, samples, *, precisions,
                   backbone_ips: Dict[str, float], runs: int, warmup: int) -> List[dict]:
    models = {name: MODELS.build(cfg).to(imgs.device) for name, cfg in cfgs.items()}
    fns = {(name, p): train_step_fn(m, imgs, samples, p)
           for name, m in models.items() for p in precisions}
    res = measure(fns, device=imgs.device, runs=runs, warmup=warmup)
    rows = []
    for name, p in fns:
        seconds = res[name, p]['seconds']
        rows.append(table_row(f'stage-{cfgs[name]["stage"]} train step', name, p, imgs.shape[0],
                         res[name, p], resident=resident_mib(models[name], fns[name, p].optimizer),
                         vs_backbone=imgs.shape[0] / seconds / backbone_ips[p]))
    return rows


def bench_inference(cfg: dict, image: Tensor, *, precisions, runs: int,
                    warmup: int) -> List[dict]:
    """mmseg's ``EncoderDecoder.slide_inference`` (one window per forward) vs ours."""
    model = MODELS.build(cfg).to(image.device).eval()
    metas = [dict(ori_shape=image.shape[2:], img_shape=image.shape[2:],
                  pad_shape=image.shape[2:], padding_size=[0, 0, 0, 0])]
    num_classes = model.decode_head.out_channels
    impls = {'mmseg stock slide loop': EncoderDecoder.slide_inference,
             'ours (batched windows)': type(model).slide_inference}
    outs = {}

    def infer(impl, key):
        def call():
            with torch.no_grad(), autocast(image.device, key[1]):
                outs[key] = impl(model, image, [dict(m) for m in metas])
        return call
    fns = {(name, p): infer(impl, (name, p)) for p in precisions for name, impl in impls.items()}
    res = measure(fns, device=image.device, runs=runs, warmup=warmup)
    rows = []
    for p in precisions:
        stock, ours = (outs[name, p] for name in impls)
        llr = [anomaly_score(*split_maps(o, num_classes), mode='LLR') for o in (stock, ours)]
        (stock_name, ours_name) = impls
        rows.append(table_row('slide inference', stock_name, p, 1, res[stock_name, p],
                         resident=resident_mib(model)))
        rows.append(table_row('slide inference', ours_name, p, 1, res[ours_name, p],
                         resident=resident_mib(model),
                         vs_stock=res[stock_name, p]['seconds'] / res[ours_name, p]['seconds'],
                         max_abs_diff=(llr[0] - llr[1]).abs().max().item()))
    return rows
