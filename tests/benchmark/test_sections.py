"""Smoke test of the throughput benchmark's parts on a tiny model (numbers, not timings)."""
import torch

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.benchmark.flops import count_flops, flop_rows, flops_markdown
from mmseg_uem.benchmark.report import environment, markdown
from mmseg_uem.benchmark.sections import (
    bench_backbone,
    bench_inference,
    bench_training,
    train_step_fn,
)
from mmseg_uem.benchmark.syncs import find_syncs
from mmseg_uem.models.backbones import DINOv2
from mmseg_uem.testing.batches import synthetic_batch
from mmseg_uem.testing.models import segmentor_cfg

torch.set_num_threads(2)
ARCH = dict(embed_dims=32, num_layers=4, num_heads=2)
SIZES = dict(arch=ARCH, out_indices=(0, 1, 2, 3), channels=16, num_classes=3, memory_size=20,
             mlp_channels=(16, 8))
TIMING = dict(runs=1, warmup=0)


def test_backbone_twins_carry_our_weights():
    backbone = DINOv2(ARCH, out_indices=(0, 1, 2, 3))
    rows = bench_backbone(backbone, torch.randn(1, 3, 28, 42), precisions=['fp32'],
                             **TIMING)
    names = [r['name'] for r in rows]
    assert names[0] == 'ours (DINOv2)' and 'mmpretrain VisionTransformer' in names
    for r in rows[1:]:
        assert r['max_abs_diff'] < 1e-5, r  # same weights: same final map at the 37x37 grid
    assert all(r['images_per_s'] > 0 and r['peak_mib'] >= 0 for r in rows)


def test_training_and_inference_sections():
    imgs, samples = synthetic_batch(2, (28, 42), num_classes=3, device=torch.device('cpu'))
    labels = torch.stack([s.gt_sem_seg.data for s in samples])
    assert {0, 254, 255} <= set(labels.unique().tolist())
    cfgs = {v: segmentor_cfg(v, **SIZES) for v in ('G', 'D-D')}
    rows = bench_training(cfgs, imgs, samples, precisions=['fp32', 'bf16'],
                             backbone_ips={'fp32': 1.0, 'bf16': 1.0}, **TIMING)
    assert [(r['name'], r['precision']) for r in rows] == [
        ('G', 'fp32'), ('G', 'bf16'), ('D-D', 'fp32'), ('D-D', 'bf16')]
    assert rows[0]['section'] == 'stage-1 train step'
    assert rows[2]['section'] == 'stage-2 train step'
    test_cfg = dict(mode='slide', crop_size=(28, 42), stride=(14, 14), batch_windows=4)
    rows = bench_inference(segmentor_cfg('D-D', **SIZES, test_cfg=test_cfg),
                              torch.randn(1, 3, 56, 84), precisions=['fp32'], **TIMING)
    assert [r['name'] for r in rows] == ['mmseg stock slide loop', 'ours (batched windows)']
    assert rows[1]['max_abs_diff'] < 1e-5 and rows[1]['vs_stock'] > 0
    table = markdown(rows, environment(torch.device('cpu')), dict(runs=1))
    assert 'slide inference' in table and 'torch=' in table


def test_sync_scan_on_cpu_finds_only_the_checks_read_back():
    from mmseg.registry import MODELS
    imgs, samples = synthetic_batch(2, (28, 42), num_classes=3, device=torch.device('cpu'))
    model = MODELS.build(segmentor_cfg('G-G', **SIZES))
    syncs = find_syncs(train_step_fn(model, imgs, samples, 'fp32'), torch.device('cpu'))
    assert list(syncs.values()) == [1] and 'checks.py' in next(iter(syncs)), syncs
    table = markdown([], environment(torch.device('cpu')), {}, syncs)
    assert 'syncs in one training step (SyncAudit, forward + backward)' in table


def test_count_flops_by_hand():
    linear = torch.nn.Linear(10, 20, bias=False)
    assert count_flops(lambda: linear(torch.randn(5, 10))) == 2 * 5 * 10 * 20
    q, k, v = (torch.randn(1, 2, 7, 4) for _ in range(3))  # (B, heads, tokens, dims)
    # Q K^T and (softmax) V: 2 * B * heads * 7 * 7 * 4 FLOPs each
    flops = count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v))
    assert flops == 2 * (2 * 1 * 2 * 7 * 7 * 4)


def test_flop_rows_split_the_step():
    imgs, samples = synthetic_batch(1, (28, 42), num_classes=3, device=torch.device('cpu'))
    backbone = DINOv2(ARCH, out_indices=(0, 1, 2, 3))
    # the 2 x 3 patch grid is pooled to 1 x 1: a training step of one image needs a norm
    # without batch statistics (the configs' BatchNorm refuses one value per channel)
    gn = dict(type='GN', num_groups=4, requires_grad=True)
    cfgs = {v: segmentor_cfg(v, **SIZES, norm_cfg=gn) for v in ('G', 'D-D')}
    rows = flop_rows(backbone, cfgs, imgs, samples)
    assert [r['name'] for r in rows] == ['backbone forward', 'stage-1 step G',
                                         'stage-2 step D-D']
    assert rows[0]['ratio'] == 1.0
    for r in rows[1:]:
        assert r['total'] == r['backbone'] + r['frozen_head'] + r['rest']
        assert r['rest'] > 0 and 0 < r['ratio'] < 1
    assert rows[1]['frozen_head'] == 0 and rows[2]['frozen_head'] > 0
    assert 'backbone / total' in flops_markdown(rows)
