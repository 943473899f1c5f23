"""Throughput of the UEM segmentor: backbone, training steps, sliding-window inference.

Usage:
    python tools/benchmarks/throughput.py                          # GPU if present
    python tools/benchmarks/throughput.py --device cpu --out work_dirs/throughput_cpu
    python tools/benchmarks/throughput.py --arch vitb14_reg --crop 518 1036 --batch 2
    python tools/benchmarks/throughput.py --arch vitb16 --device cpu --batch 1 --runs 3

A DINOv3 arch (vits16, vitb16, vitl16) compares that backbone's forward at 512x1024 with the
DINOv2 ViT/14-reg of the same width at the paper's 518x1036 (:mod:`mmseg_uem.benchmark.
foundation`): GFLOP per image and images/s side by side, per precision (--precisions) and
attention kernel (--attention: PyTorch's choice, 'auto', and the unfused 'math'); the other
sections stay DINOv2's.

Measured in one run, on synthetic inputs with random weights (median of --runs after
--warmup calls; CUDA synchronised around each call):
1. the frozen backbone's forward alone: our DINOv2, mmpretrain's VisionTransformer carrying
   the same weights (registers dropped: mmpretrain has none) and, if timm imports, timm's
   DINOv2 ViT (weights through timm's own converter), per precision, with the max abs
   difference of the final map at the stored 518x518 grid;
2. one training step (loss + backward + AdamW) of stage 1 (G, D) and stage 2 (G-G, D-D),
   images/s, peak memory, and images/s as a fraction of the backbone forward's;
3. sliding-window inference of a full image (paper: 1024x2048, window 518x1036, stride
   140): mmseg's one-window ``EncoderDecoder.slide_inference`` vs our batched windows,
   and the max abs difference of their LLR maps;
4. FLOPs per image of the backbone forward and of each training step (backbone, frozen
   inlier head, trained part), and their ratio: the speed ratio at equal FLOP rates;
5. versions and device, and the host-device syncs of one G-G training step (CUDA: sync
   debug mode; CPU: ``SyncAudit``, which flags the operations that would sync on a GPU).

Defaults are the paper's on CUDA; on CPU a tiny ViT and a 4x smaller geometry so that the
run takes 1-2 minutes (CPU numbers only say how the parts compare, not how fast a GPU is).
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import json
import os

import torch
from mmengine.registry import init_default_scope

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.benchmark.flops import flop_rows, flops_markdown
from mmseg_uem.benchmark.foundation import (
    DINOV2_COUNTERPART,
    compare_backbones,
    comparison_markdown,
    pair,
)
from mmseg_uem.benchmark.report import environment, markdown
from mmseg_uem.benchmark.sections import (
    bench_backbone,
    bench_inference,
    bench_training,
    train_step_fn,
)
from mmseg_uem.benchmark.syncs import find_syncs
from mmseg_uem.models.backbones import DINOv2
from mmseg_uem.models.backbones.dinov2 import resolve_arch
from mmseg_uem.testing.batches import synthetic_batch
from mmseg_uem.testing.models import default_out_indices, segmentor_cfg

GPU_DEFAULTS = dict(arch='vitb14_reg', crop=(518, 1036), image=(1024, 2048),
                    window=(518, 1036), stride=(140, 140), channels=256, memory_size=8000,
                    mlp_channels=(512, 512, 256), runs=10, warmup=3, infer_precisions='fp32,bf16',
                    batch=8)
# a 4x smaller geometry: 518 / 4 -> 126 (multiple of 14), 140 / 4 = 35
CPU_DEFAULTS = dict(arch=dict(embed_dims=96, num_layers=4, num_heads=3), crop=(126, 252),
                    image=(256, 512), window=(126, 252), stride=(35, 35), channels=64,
                    memory_size=500, mlp_channels=(128, 128, 64), runs=5, warmup=1,
                    infer_precisions='fp32', batch=2)  # CPU bf16 is slower than fp32 here


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='auto', help="'auto', 'cpu', 'cuda', 'cuda:1'")
    parser.add_argument('--arch', default=None,
                        help='DINOv2 arch name or JSON dict (default vitb14_reg on CUDA, '
                        'a 96-dim 4-block ViT on CPU), or a DINOv3 arch '
                        f'({", ".join(DINOV2_COUNTERPART)}): DINOv3 vs DINOv2 backbones')
    parser.add_argument('--attention', default='auto,math',
                        help='DINOv3 comparison: comma list of attention kernels, auto, math')
    parser.add_argument('--out-indices', type=int, nargs='+', default=None)
    parser.add_argument('--crop', type=int, nargs=2, default=None, help='training crop H W')
    parser.add_argument('--batch', type=int, default=None,
                        help='training / backbone batch (default 8 on CUDA, 2 on CPU)')
    parser.add_argument('--image', type=int, nargs=2, default=None, help='inference H W')
    parser.add_argument('--window', type=int, nargs=2, default=None)
    parser.add_argument('--stride', type=int, nargs=2, default=None)
    parser.add_argument('--batch-windows', type=int, default=8)
    parser.add_argument('--channels', type=int, default=None, help='decoder channels E')
    parser.add_argument('--memory-size', type=int, default=None, help='GMM slots/component')
    parser.add_argument('--mlp-channels', type=int, nargs='+', default=None)
    parser.add_argument('--num-classes', type=int, default=19)
    parser.add_argument('--precisions', default='fp32,bf16',
                        help='backbone and training: comma list of fp32, bf16, fp16')
    parser.add_argument('--infer-precisions', default=None,
                        help='slide inference (default fp32,bf16 on CUDA, fp32 on CPU)')
    parser.add_argument('--infer-variant', default='G-G', choices=['G-G', 'G-D', 'D-D'])
    parser.add_argument('--sections', default='backbone,train,infer,flops',
                        help='comma list of backbone, train, infer, flops')
    parser.add_argument('--runs', type=int, default=None)
    parser.add_argument('--warmup', type=int, default=None)
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default 1 on CPU: OpenMP threads on a loaded '
                        'shared machine slow down 10-40x at random; 0 = torch default)')
    parser.add_argument('--no-syncs', action='store_true', help='skip the sync scan')
    parser.add_argument('--out', default=None,
                        help='write PATH.md and PATH.json (or only one, by its suffix)')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    init_default_scope('mmseg')
    device = torch.device('cuda' if args.device == 'auto' and torch.cuda.is_available()
                          else 'cpu' if args.device == 'auto' else args.device)
    threads = args.threads if args.threads is not None else (1 if device.type == 'cpu' else 0)
    if threads:
        torch.set_num_threads(threads)
    defaults = GPU_DEFAULTS if device.type == 'cuda' else CPU_DEFAULTS
    opt = {k: getattr(args, k, None) for k in defaults}
    opt = {k: v if v is not None else defaults[k] for k, v in opt.items()}
    if isinstance(opt['arch'], str) and opt['arch'].lstrip().startswith('{'):
        opt['arch'] = json.loads(opt['arch'])
    if isinstance(opt['arch'], str) and opt['arch'] in DINOV2_COUNTERPART:
        compare_foundation(args, opt, device)
        return
    num_layers = resolve_arch(opt['arch'])['num_layers']
    out_indices = tuple(args.out_indices or default_out_indices(num_layers))
    precisions = [p for p in args.precisions.split(',') if p]
    sections = set(args.sections.split(','))
    sizes = dict(arch=opt['arch'], out_indices=out_indices, channels=opt['channels'],
                 num_classes=args.num_classes, memory_size=opt['memory_size'],
                 mlp_channels=opt['mlp_channels'])
    settings = dict(device=device, **sizes, crop=tuple(opt['crop']), batch=opt['batch'],
                    image=tuple(opt['image']), window=tuple(opt['window']),
                    stride=tuple(opt['stride']), batch_windows=args.batch_windows,
                    runs=opt['runs'], warmup=opt['warmup'], load_avg=os.getloadavg()[0])
    timing = dict(runs=opt['runs'], warmup=opt['warmup'])

    torch.manual_seed(0)
    imgs, samples = synthetic_batch(opt['batch'], opt['crop'], num_classes=args.num_classes,
                                       device=device)
    rows, syncs = [], None
    backbone = DINOv2(opt['arch'], out_indices=out_indices).to(device)
    backbone_rows = bench_backbone(backbone, imgs, precisions=precisions, **timing)
    if 'backbone' in sections:
        rows += backbone_rows
    backbone_ips = {r['precision']: r['images_per_s'] for r in backbone_rows
                    if r['name'].startswith('ours')}
    cfgs = {v: segmentor_cfg(v, **sizes) for v in ('G', 'D', 'G-G', 'D-D')}
    if 'train' in sections:
        rows += bench_training(cfgs, imgs, samples, precisions=precisions,
                                  backbone_ips=backbone_ips, **timing)
        if not args.no_syncs:
            from mmseg.registry import MODELS
            model = MODELS.build(cfgs['G-G']).to(device)
            syncs = find_syncs(train_step_fn(model, imgs, samples, 'fp32'), device)
            del model
    if 'infer' in sections:
        test_cfg = dict(mode='slide', crop_size=tuple(opt['window']),
                        stride=tuple(opt['stride']), batch_windows=args.batch_windows)
        image = torch.randn(1, 3, *opt['image'], device=device)
        rows += bench_inference(segmentor_cfg(args.infer_variant, **sizes,
                                                    test_cfg=test_cfg),
                                   image, precisions=opt['infer_precisions'].split(','),
                                   **timing)
    flops = None
    if 'flops' in sections:
        flops = flop_rows(backbone, cfgs, imgs, samples)
    env = environment(device)
    table = markdown(rows, env, settings, syncs)
    if flops:
        table += '\n\n' + flops_markdown(flops)
    print(table)
    write_report(args.out, table, dict(rows=rows, environment=env, syncs=syncs, flops=flops,
                                       settings={k: str(v) for k, v in settings.items()}))


def write_report(out: str, table: str, payload: dict) -> None:
    """``out``: PATH.md (the table) and PATH.json (``payload``), or only one, by suffix."""
    if not out:
        return
    base, ext = osp.splitext(out)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    if ext in ('', '.md'):
        with open(base + '.md', 'w') as f:
            f.write(table + '\n')
    if ext in ('', '.json'):
        with open(base + '.json', 'w') as f:
            json.dump(payload, f, indent=1)


def compare_foundation(args: argparse.Namespace, opt: dict, device: torch.device) -> None:
    """DINOv3 ``opt['arch']`` vs its DINOv2 counterpart, each at its window."""
    torch.manual_seed(0)
    models = pair(opt['arch'], out_indices=args.out_indices)
    rows = compare_backbones(models, batch=opt['batch'],
                             precisions=[p for p in args.precisions.split(',') if p],
                             attention=[a for a in args.attention.split(',') if a],
                             device=device, runs=opt['runs'], warmup=opt['warmup'])
    env = environment(device)
    table = comparison_markdown(rows) + '\n\nenvironment: ' + ', '.join(
        f'{k}={v}' for k, v in env.items()) + f', batch={opt["batch"]}, runs={opt["runs"]}, ' \
        f'warmup={opt["warmup"]}, threads={torch.get_num_threads()}, ' \
        f'load average={os.getloadavg()[0]:.1f}'
    print(table)
    write_report(args.out, table, dict(rows=rows, environment=env))


if __name__ == '__main__':
    main()
