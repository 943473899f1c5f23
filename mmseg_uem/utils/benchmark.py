"""Throughput of the UEM segmentor's parts, for ``tools/benchmarks/throughput.py``.

Shape key: B batch, D ViT dim, K inlier classes, H x W image.

Everything runs on synthetic inputs with random weights (speed does not depend on them):
the frozen backbone alone (ours and mmpretrain's ``VisionTransformer`` carrying the same
weights), stage-1 and stage-2 training steps, and sliding-window inference with mmseg's
one-window loop against our batched windows. Times are medians of ``runs`` after
``warmup`` calls, with ``torch.cuda.synchronize`` around each call on CUDA.
"""
import platform
import statistics
import threading
import time
from collections import Counter
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence

import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import Tensor, nn

from ..models.backbones.dinov2 import DEFAULT_OUT_INDICES, DINOv2, _resolve_arch
from ..models.backbones.dinov2_converter import convert_dinov2_state_dict

VOID, OUTLIER = 255, 254
PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


# ------------------------------------------------------------------------- measuring
def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every 2 ms (Linux)."""

    def __enter__(self) -> 'PeakRSS':
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
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


def measure(fn: Callable[[], None], *, device: torch.device, runs: int,
            warmup: int) -> Dict[str, float]:
    """Median seconds per call, and peak memory (MiB) of the timed calls.

    CUDA: ``max_memory_allocated`` (reset after warm-up). CPU: peak RSS above the level
    after warm-up (the allocator may keep freed pages, so this is a lower bound).
    """
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        tracker = nullcontext()
    else:
        tracker = PeakRSS()
    with tracker:
        for _ in range(runs):
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated(device)
    else:
        peak = tracker.peak - tracker.base
    return dict(seconds=statistics.median(times), peak_mib=peak / 2**20)


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
    rows = []
    twin = mmpretrain_twin(backbone)
    models = [('ours (DINOv2)', backbone)]
    if twin is not None:
        models.append(('mmpretrain VisionTransformer', twin.to(imgs.device)))
    with torch.no_grad():
        diff = None
        if twin is not None and not backbone.num_register_tokens:
            size = (backbone.pos_embed.shape[1] - 1) ** 0.5 * backbone.patch_size
            native = imgs[:1, :, :int(size), :int(size)]
            if native.shape[2:] == (int(size), int(size)):  # no pos-embed interpolation
                diff = (backbone(native)[-1] - twin(native)[-1]).abs().max().item()
        for precision in precisions:
            for name, model in models:
                def step(model=model, precision=precision):
                    with autocast(imgs.device, precision):
                        model(imgs)
                res = measure(step, device=imgs.device, runs=runs, warmup=warmup)
                rows.append(dict(section='backbone forward', name=name, precision=precision,
                                 images_per_s=imgs.shape[0] / res['seconds'],
                                 peak_mib=res['peak_mib'],
                                 max_abs_diff=diff if name != models[0][0] else None))
    return rows


def train_step_fn(model, imgs: Tensor, samples, precision: str) -> Callable[[], None]:
    params = [p for p in model.parameters() if p.requires_grad]
    wrapper = OptimWrapper(torch.optim.AdamW(params, lr=1e-5, weight_decay=0.0))
    model.train()

    def step() -> None:
        with autocast(imgs.device, precision):
            losses = model.loss(imgs, samples)
        total, _ = model.parse_losses(losses)
        wrapper.update_params(total)
    return step


def bench_training(cfgs: Dict[str, dict], imgs: Tensor, samples, *, precisions,
                   backbone_ips: Dict[str, float], runs: int, warmup: int) -> List[dict]:
    rows = []
    for name, cfg in cfgs.items():
        model = MODELS.build(cfg).to(imgs.device)
        for precision in precisions:
            res = measure(train_step_fn(model, imgs, samples, precision), device=imgs.device,
                          runs=runs, warmup=warmup)
            ips = imgs.shape[0] / res['seconds']
            rows.append(dict(section=f'stage-{cfg["stage"]} train step', name=name,
                             precision=precision, images_per_s=ips, peak_mib=res['peak_mib'],
                             vs_backbone=ips / backbone_ips[precision]))
        del model
    return rows


def bench_inference(cfg: dict, image: Tensor, *, precisions, runs: int,
                    warmup: int) -> List[dict]:
    """mmseg's ``EncoderDecoder.slide_inference`` (one window per forward) vs ours."""
    model = MODELS.build(cfg).to(image.device).eval()
    metas = [dict(ori_shape=image.shape[2:], img_shape=image.shape[2:],
                  pad_shape=image.shape[2:], padding_size=[0, 0, 0, 0])]
    num_classes = model.decode_head.out_channels
    rows = []
    for precision in precisions:
        outs = {}
        for name, fn in (('mmseg stock slide loop', EncoderDecoder.slide_inference),
                         ('ours (batched windows)', _ours_slide)):
            def run(fn=fn, name=name, precision=precision, outs=outs):
                with torch.no_grad(), autocast(image.device, precision):
                    outs[name] = fn(model, image, [dict(m) for m in metas])
            res = measure(run, device=image.device, runs=runs, warmup=warmup)
            rows.append(dict(section='slide inference', name=name, precision=precision,
                             images_per_s=image.shape[0] / res['seconds'],
                             peak_mib=res['peak_mib']))
        llr = {k: v[:, num_classes + 1] - v[:, num_classes] - v[:, :num_classes].amax(1)
               for k, v in outs.items()}
        stock, ours = llr.values()
        rows[-1]['vs_stock'] = rows[-1]['images_per_s'] / rows[-2]['images_per_s']
        rows[-1]['max_abs_diff'] = (stock - ours).abs().max().item()
    return rows


def _ours_slide(model, image: Tensor, metas: List[dict]) -> Tensor:
    return model.slide_inference(image, metas)


# ----------------------------------------------------------------------------- syncs
def find_syncs(step: Callable[[], None], device: torch.device) -> Dict[str, int]:
    """Host-device synchronisations of one training step, counted per source line (CUDA)."""
    import warnings
    if device.type != 'cuda':
        return {}
    step()  # lazy initialisation (optimizer state, cuBLAS handles) is not the hot path
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
    head = ('| section | model | precision | images/s | peak MiB | vs backbone fwd | '
            'vs stock | max abs diff |')
    lines = [head, '|' + '---|' * 8]

    def fmt(value, spec):
        return '' if value is None else format(value, spec)
    for r in rows:
        lines.append(f"| {r['section']} | {r['name']} | {r['precision']} | "
                     f"{r['images_per_s']:.3g} | {r['peak_mib']:.0f} | "
                     f"{fmt(r.get('vs_backbone'), '.3f')} | {fmt(r.get('vs_stock'), '.2f')} | "
                     f"{fmt(r.get('max_abs_diff'), '.2e')} |")
    lines += ['', 'settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
              'environment: ' + ', '.join(f'{k}={v}' for k, v in env.items())]
    if syncs is not None:
        lines += ['', 'host-device syncs in one training step (CUDA sync debug mode):']
        lines += [f'- {n}x {loc}' for loc, n in syncs.items()] or ['- none']
    return '\n'.join(lines)
