"""Throughput of the UEM segmentor's parts, for ``tools/benchmarks/throughput.py``.

Shape key: B batch, D ViT dim, K inlier classes, H x W image.

Everything runs on synthetic inputs with random weights (speed does not depend on them):
the frozen backbone alone (ours and mmpretrain's ``VisionTransformer`` carrying the same
weights), stage-1 and stage-2 training steps, and sliding-window inference with mmseg's
one-window loop against our batched windows. Times are medians of ``runs`` after
``warmup`` calls, with ``torch.cuda.synchronize`` around each call on CUDA.
"""
import os
import platform
import statistics
import threading
import time
from collections import Counter
from contextlib import nullcontext
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor, nn
from torch.utils import flop_counter

from ..models.backbones.dinov2 import DEFAULT_OUT_INDICES, DINOv2, _resolve_arch
from ..models.backbones.dinov2_converter import convert_dinov2_state_dict
from .syncs import SyncAudit

VOID, OUTLIER = 255, 254
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


# ------------------------------------------------------------------------- measuring
def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


class PeakMemory:
    """Peak memory above the level at entry: the CUDA allocator's, or the resident set size
    sampled every 2 ms by a thread (Linux /proc)."""

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda

    def __enter__(self) -> 'PeakMemory':
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * 4096

    @property
    def extra(self) -> int:
        return self.peak - self.base


def measure(fns: Dict[str, Callable[[], None]], *, device: torch.device, runs: int,
            warmup: int) -> Dict[str, Dict[str, float]]:
    """Time several callables, interleaved run by run so that they share the machine's load.

    Returns per name: median and fastest seconds per call (the fastest is the robust figure
    on a shared machine: other load only adds time) and ``extra_mib``, the memory a call
    needs above what is allocated before it (weights, EM buffers and optimizer state of all
    models stay resident): CUDA ``max_memory_allocated`` minus ``memory_allocated`` before
    the call; CPU peak RSS above the RSS before the call, sampled every 2 ms (the allocator
    keeps freed pages: a lower bound).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    peaks = dict.fromkeys(fns, 0)
    for _ in range(runs):
        for name, fn in fns.items():
            synchronize(device)
            if device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
            tracker = PeakMemory() if device.type != 'cuda' else nullcontext()
            with tracker:
                start = time.perf_counter()
                fn()
                synchronize(device)
                times[name].append(time.perf_counter() - start)
            peak = (torch.cuda.max_memory_allocated(device) - before if device.type == 'cuda'
                    else tracker.peak - tracker.base)
            peaks[name] = max(peaks[name], peak)
    return {name: dict(seconds=statistics.median(t), best_seconds=min(t),
                       extra_mib=peaks[name] / 2**20) for name, t in times.items()}


def resident_mib(model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None) -> float:
    """Parameters, buffers (GMM memories included) and optimizer state, in MiB."""
    tensors = list(model.parameters()) + list(model.buffers())
    if optimizer is not None:
        tensors += [v for state in optimizer.state.values() for v in state.values()
                    if isinstance(v, Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _row(section: str, name: str, precision: str, images: int, res: dict, *,
         resident: float, **extra) -> dict:
    """A table row; ``peak_mib`` = resident state of this model + the call's extra memory."""
    return dict(section=section, name=name, precision=precision,
                images_per_s=images / res['seconds'],
                best_images_per_s=images / res['best_seconds'],
                peak_mib=resident + res['extra_mib'], extra_mib=res['extra_mib'], **extra)


# ---------------------------------------------------------------------------- models
def default_out_indices(num_layers: int) -> tuple:
    """The UEM blocks for ViT-B depth, else four evenly spaced blocks ending at the last."""
    if num_layers in DEFAULT_OUT_INDICES:
        return DEFAULT_OUT_INDICES[num_layers]
    return tuple(sorted({max(round(num_layers * (i + 1) / 4) - 1, 0) for i in range(4)}))


def segmentor_cfg(variant: str, *, arch, out_indices: Sequence[int], channels: int = 256,
                  num_classes: int = 19, memory_size: int = 8000,
                  mlp_channels: Sequence[int] = (512, 512, 256),
                  test_cfg: Optional[dict] = None) -> dict:
    """UEMEncoderDecoder config: 'G' / 'D' (stage 1) or 'G-G' / 'G-D' / 'D-D' (stage 2),
    with the paper's settings unless the sizes are overridden."""
    inlier, _, uem = variant.partition('-')
    embed_dims = _resolve_arch(arch)['embed_dims']
    groups = 32 if channels % 32 == 0 else 1
    decode = dict(type='GMMHead' if inlier == 'G' else 'LinearDecoderHead',
                  in_channels=[embed_dims] * 4, channels=channels, num_classes=num_classes,
                  final_mlp_channels=min(512, 2 * channels),
                  norm_cfg=dict(type='GN', num_groups=groups, requires_grad=True))
    if inlier == 'G':
        decode.update(memory_size=memory_size)
    cfg = dict(type='UEMEncoderDecoder', stage=2 if uem else 1, decode_head=decode,
               backbone=dict(type='DINOv2', arch=arch, out_indices=tuple(out_indices)),
               test_cfg=test_cfg or dict(mode='whole'))
    if uem:
        cfg['auxiliary_head'] = dict(
            type='UEMHead', in_channels=embed_dims, mlp_channels=tuple(mlp_channels),
            classifier='gmm' if uem == 'G' else 'linear', num_inlier_classes=num_classes,
            alpha=0.5 if variant == 'G-G' else 0.0,
            gmm_cfg=dict(memory_size=memory_size) if uem == 'G' else None)
    return cfg


def mmpretrain_twin(ours: DINOv2) -> Optional[nn.Module]:
    """mmpretrain ``VisionTransformer`` with our weights (registers and mask token dropped:
    mmpretrain has none). None if mmpretrain cannot be imported."""
    try:
        from mmpretrain.models.backbones import VisionTransformer
    except ImportError:
        return None
    cfg = ours.arch_settings
    if cfg['ffn_type'] != 'mlp':
        return None
    grid = int(round((ours.pos_embed.shape[1] - 1) ** 0.5))
    twin = VisionTransformer(
        arch=dict(embed_dims=cfg['embed_dims'], num_layers=cfg['num_layers'],
                  num_heads=cfg['num_heads'],
                  feedforward_channels=int(cfg['embed_dims'] * cfg['mlp_ratio'])),
        img_size=grid * ours.patch_size, patch_size=ours.patch_size,
        out_indices=list(ours.out_indices), out_type='featmap', final_norm=True,
        layer_scale_init_value=1e-5 if cfg['layer_scale_init'] else 0.0,
        norm_cfg=dict(type='LN', eps=1e-6))
    own = ours.state_dict()
    # our converter maps mmpretrain -> official names; apply it key by key to pair them
    theirs = {}
    for key in twin.state_dict():
        official = next(iter(convert_dinov2_state_dict({key: own['cls_token']})))
        theirs[key] = own[official]
    twin.load_state_dict(theirs, strict=True)
    twin.requires_grad_(False)
    twin.eval()  # mmpretrain's BaseBackbone.train() returns None, so no chaining
    return twin


class _TimmIntermediates(nn.Module):
    """timm ViT returning the normed intermediate maps, as ``get_intermediate_layers``."""

    def __init__(self, vit: nn.Module, out_indices: Sequence[int]) -> None:
        super().__init__()
        self.vit, self.out_indices = vit, list(out_indices)

    def forward(self, x: Tensor) -> List[Tensor]:
        return self.vit.forward_intermediates(x, indices=self.out_indices, norm=True,
                                              output_fmt='NCHW', intermediates_only=True)


def timm_twin(ours: DINOv2) -> Optional[nn.Module]:
    """timm's DINOv2 ViT (registers included) with our weights through timm's own
    ``checkpoint_filter_fn``. None if timm cannot be imported."""
    try:
        from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn
    except ImportError:
        return None
    cfg = ours.arch_settings
    if cfg['ffn_type'] != 'mlp':
        return None
    grid = int(round((ours.pos_embed.shape[1] - 1) ** 0.5))
    regs = ours.num_register_tokens
    # timm's vit_*_patch14_dinov2 / _reg4_dinov2 settings
    vit = VisionTransformer(
        img_size=grid * ours.patch_size, patch_size=ours.patch_size,
        embed_dim=cfg['embed_dims'], depth=cfg['num_layers'], num_heads=cfg['num_heads'],
        mlp_ratio=cfg['mlp_ratio'], init_values=1e-5 if cfg['layer_scale_init'] else None,
        reg_tokens=regs, no_embed_class=bool(regs), dynamic_img_size=True, num_classes=0)
    vit.load_state_dict(checkpoint_filter_fn(dict(ours.state_dict()), vit), strict=True)
    twin = _TimmIntermediates(vit, ours.out_indices)
    twin.requires_grad_(False)
    return twin.eval()


def synthetic_batch(batch: int, size: Sequence[int], *, num_classes: int,
                    device: torch.device, seed: int = 0):
    """Normalised images and labels: class blocks, a void band and a pasted outlier."""
    g = torch.Generator().manual_seed(seed)
    height, width = size
    imgs = torch.randn(batch, 3, height, width, generator=g)
    samples = []
    for _ in range(batch):
        blocks = torch.randint(0, num_classes, (1, 1, 4, 8), generator=g).float()
        label = nn.functional.interpolate(blocks, size=(height, width), mode='nearest')[0].long()
        label[:, :height // 16] = VOID
        top, left = height // 2, width // 3
        label[:, top:top + height // 8, left:left + width // 8] = OUTLIER
        meta = dict(img_shape=(height, width), ori_shape=(height, width),
                    pad_shape=(height, width), padding_size=[0, 0, 0, 0])
        samples.append(SegDataSample(metainfo=meta,
                                     gt_sem_seg=PixelData(data=label.to(device))))
    return imgs.to(device), samples


# -------------------------------------------------------------------------- sections
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
    return [_row('backbone forward', name, p, imgs.shape[0], res[name, p],
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
        rows.append(_row(f'stage-{cfgs[name]["stage"]} train step', name, p, imgs.shape[0],
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
        llr = [o[:, num_classes + 1] - o[:, num_classes] - o[:, :num_classes].amax(1)
               for o in (stock, ours)]
        (stock_name, ours_name) = impls
        rows.append(_row('slide inference', stock_name, p, 1, res[stock_name, p],
                         resident=resident_mib(model)))
        rows.append(_row('slide inference', ours_name, p, 1, res[ours_name, p],
                         resident=resident_mib(model),
                         vs_stock=res[stock_name, p]['seconds'] / res[ours_name, p]['seconds'],
                         max_abs_diff=(llr[0] - llr[1]).abs().max().item()))
    return rows


# ----------------------------------------------------------------------------- flops
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


# ----------------------------------------------------------------------------- syncs
def find_syncs(step: Callable[..., None], device: torch.device) -> Dict[str, int]:
    """Host-device synchronisations of one training step, counted per source line.

    CUDA: the whole step (optimizer included) under ``torch.cuda.set_sync_debug_mode``.
    Other devices: the forward and backward passes under :class:`SyncAudit`, which flags
    the operations that would synchronise on a GPU (the optimizer is left out: on the CPU
    AdamW reads its step counters with ``.item()``, host tensors on a GPU).
    """
    import warnings
    step()  # lazy initialisation (optimizer state, cuBLAS handles) is not the hot path
    if device.type != 'cuda':
        with SyncAudit() as audit:
            step(update=False)
        return dict(audit.found.most_common())
    torch.cuda.synchronize(device)
    found: Counter = Counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode('default')
    for w in caught:
        if 'synchroniz' in str(w.message):
            found[f'{w.filename}:{w.lineno}'] += 1
    return dict(found.most_common())


def environment(device: torch.device) -> Dict[str, str]:
    import mmcv
    import mmengine
    import mmseg
    env = dict(python=platform.python_version(), torch=torch.__version__,
               mmcv=mmcv.__version__, mmengine=mmengine.__version__, mmseg=mmseg.__version__,
               device=str(device), cpu=platform.processor() or platform.machine(),
               threads=str(torch.get_num_threads()))
    try:
        import mmpretrain
        env['mmpretrain'] = mmpretrain.__version__
    except ImportError:
        env['mmpretrain'] = 'not installed'
    try:
        import timm
        env['timm'] = timm.__version__
    except ImportError:
        env['timm'] = 'not installed'
    if device.type == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(device)
        env['cuda'] = str(torch.version.cuda)
    return env


def markdown(rows: List[dict], env: Dict[str, str], settings: Dict[str, object],
             syncs: Optional[Dict[str, int]] = None) -> str:
    head = ('| section | model | precision | images/s (median) | images/s (best) | peak MiB | '
            'of which extra | vs backbone fwd | vs stock | max abs diff |')
    lines = [head, '|' + '---|' * 10]

    def fmt(value, spec):
        return '' if value is None else format(value, spec)
    for r in rows:
        lines.append(f"| {r['section']} | {r['name']} | {r['precision']} | "
                     f"{r['images_per_s']:.3g} | {r['best_images_per_s']:.3g} | "
                     f"{r['peak_mib']:.0f} | {r['extra_mib']:.0f} | "
                     f"{fmt(r.get('vs_backbone'), '.3f')} | {fmt(r.get('vs_stock'), '.2f')} | "
                     f"{fmt(r.get('max_abs_diff'), '.2e')} |")
    lines += ['', 'images/s: median (and fastest) of the timed runs. peak MiB: resident weights, '
              'buffers and optimizer state of that model + the extra memory of one call '
              '(CUDA allocator peak; CPU sampled RSS, a lower bound). vs backbone fwd: '
              'images/s over our backbone forward\'s in the same precision. vs stock: speed-up '
              'over mmseg\'s one-window loop. max abs diff: backbone rows, final map vs ours at '
              'the stored grid (same weights); inference rows, ours vs stock LLR maps.',
              'settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
              'environment: ' + ', '.join(f'{k}={v}' for k, v in env.items())]
    if syncs is not None:
        how = ('CUDA sync debug mode' if env.get('device', '').startswith('cuda')
               else 'SyncAudit, forward + backward')
        lines += ['', f'host-device syncs in one training step ({how}):']
        cwd = os.getcwd() + os.sep
        lines += [f"- {n}x {loc[len(cwd):] if loc.startswith(cwd) else loc}"
                  for loc, n in syncs.items()] or ['- none']
    return '\n'.join(lines)
