"""The DINOv3-vs-DINOv2 backbone comparison on tiny models (numbers, not timings)."""
import pytest
import torch

from mmseg_uem.benchmark.foundation import (
    DINOV2_COUNTERPART,
    compare_backbones,
    comparison_markdown,
    pair,
)
from mmseg_uem.models.backbones import DINOv2, DINOv3

torch.set_num_threads(2)


def tiny_models() -> dict:
    arch = dict(embed_dims=32, num_layers=2, num_heads=2)
    return {'DINOv3 tiny': (DINOv3(arch, out_indices=(1,)), (32, 64)),
            'DINOv2 tiny': (DINOv2(dict(arch, num_register_tokens=4), out_indices=(1,),
                                   img_size=28), (28, 56))}


def test_rows_flops_and_table():
    rows = compare_backbones(tiny_models(), batch=1, precisions=['fp32'],
                             attention=['auto', 'math'], device=torch.device('cpu'), runs=1,
                             warmup=0)
    assert {(r['name'], r['attention']) for r in rows} == {
        (n, a) for n in ('DINOv3 tiny', 'DINOv2 tiny') for a in ('auto', 'math')}
    by_name = {r['name']: r for r in rows}
    # patch grid 2 x 4 for both: 8 patch tokens; (1 + 4 + 8) tokens per block
    assert by_name['DINOv3 tiny']['tokens'] == by_name['DINOv2 tiny']['tokens'] == 8
    # FLOPs by hand, per block: qkv 3*D*D, proj D*D, MLP 2*D*4D (multiply-adds per token),
    # attention 2*N*N*D; patch embedding 3*p*p*D per patch; 2 FLOPs per multiply-add
    D, N = 32, 13
    block = N * (3 * D * D + D * D + 2 * D * 4 * D) + 2 * N * N * D
    for name, p in (('DINOv3 tiny', 16), ('DINOv2 tiny', 14)):
        expected = 2 * (2 * block + 8 * 3 * p * p * D)
        assert by_name[name]['gflop'] * 1e9 == pytest.approx(expected, rel=1e-6), name
    assert all(r['images_per_s'] > 0 for r in rows)
    table = comparison_markdown(rows)
    assert table.count('| DINOv3 tiny | 32x64 | 8 |') == 2


def test_pairs_of_the_hub_sizes_on_meta():
    assert DINOV2_COUNTERPART == {'vits16': 'vits14_reg', 'vitb16': 'vitb14_reg',
                                  'vitl16': 'vitl14_reg'}
    with torch.device('meta'):
        models = pair('vitb16')
    (v3, w3), (v2, w2) = models.values()
    assert (w3, w2) == ((512, 1024), (518, 1036))
    assert v3.embed_dims == v2.embed_dims == 768 and v2.num_register_tokens == 4
    with pytest.raises(ValueError, match='no DINOv2 counterpart'):
        pair('vit7b16')
