"""DINOv3 backbone: equality with an independent float64 reference, loading of every hub
size and of the timm / Hugging Face layouts, the K-bias mask, freezing.

Shape key: B batch, D embed dim, d head dim, R storage tokens, h x w patch grid.

The reference forward is written from the published maths of the DINOv3 ViT (not from our
module): the float64 trunk of :mod:`mmseg_uem.testing.vit_reference` (explicit patch
unfolding, LayerNorm eps 1e-5, softmax attention, erf-GELU or SwiGLU, the K bias left out)
and, here, RoPE as a complex rotation of the pairs (x_m, x_{m + d/2}) by
2 pi coord / period_m (row coordinate for the first d/4 pairs, column for the rest).
"""
import math

import pytest
import torch

from mmseg_uem.models.backbones import DINOv3, convert_dinov3_state_dict, dinov3_converter
from mmseg_uem.models.backbones.dinov3 import ARCHS, DEFAULT_OUT_INDICES
from mmseg_uem.testing.vit_reference import patch_embed, vit_blocks
from mmseg_uem.utils.checkpoint import CheckpointMismatchError, CheckpointReadError

torch.set_num_threads(2)

D, HEADS, P = 32, 2, 16
HD = D // HEADS  # head dim 16: 4 RoPE periods


def tiny_arch(layers: int = 3, ffn: str = 'mlp', reg: int = 4, qkv_bias: bool = True) -> dict:
    return dict(embed_dims=D, num_layers=layers, num_heads=HEADS, mlp_ratio=2.0,
                ffn_type=ffn, num_register_tokens=reg, qkv_bias=qkv_bias)


def ffn_hidden(ffn: str, ratio: float = 2.0, dims: int = D) -> int:
    hidden = int(dims * ratio)
    if ffn == 'mlp':
        return hidden
    align = 64 if ffn == 'swiglu64' else 8
    return math.ceil(int(hidden * 2 / 3) / align) * align


def official_state_dict(layers: int = 3, ffn: str = 'mlp', reg: int = 4, qkv_bias: bool = True,
                        seed: int = 0) -> dict:
    """Random weights under the official DINOv3 key names and shapes (built by hand), with
    a non-zero K bias (the model must ignore it) and the official bias_mask."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, scale=0.2, mean=0.0):
        return mean + scale * torch.randn(*shape, generator=g)

    hid = ffn_hidden(ffn)
    sd = {'cls_token': rnd(1, 1, D), 'mask_token': rnd(1, D),
          'patch_embed.proj.weight': rnd(D, 3, P, P, scale=0.05),
          'patch_embed.proj.bias': rnd(D), 'norm.weight': rnd(D, mean=1.0), 'norm.bias': rnd(D),
          # periods 100 ** (2j / (d/2)) = 100 ** (4j / d), j < d/4
          'rope_embed.periods': torch.tensor([100 ** (4 * j / HD) for j in range(HD // 4)])}
    if reg:
        sd['storage_tokens'] = rnd(1, reg, D)
    for i in range(layers):
        b = f'blocks.{i}.'
        sd.update({
            b + 'norm1.weight': rnd(D, mean=1.0), b + 'norm1.bias': rnd(D),
            b + 'attn.qkv.weight': rnd(3 * D, D), b + 'attn.proj.weight': rnd(D, D),
            b + 'attn.proj.bias': rnd(D), b + 'ls1.gamma': rnd(D, scale=0.5),
            b + 'norm2.weight': rnd(D, mean=1.0), b + 'norm2.bias': rnd(D),
            b + 'ls2.gamma': rnd(D, scale=0.5)})
        if qkv_bias:
            sd[b + 'attn.qkv.bias'] = rnd(3 * D, scale=0.5)
            sd[b + 'attn.qkv.bias_mask'] = torch.cat([torch.ones(D), torch.zeros(D),
                                                      torch.ones(D)])
        if ffn == 'mlp':
            sd.update({b + 'mlp.fc1.weight': rnd(hid, D), b + 'mlp.fc1.bias': rnd(hid),
                       b + 'mlp.fc2.weight': rnd(D, hid), b + 'mlp.fc2.bias': rnd(D)})
        else:
            sd.update({b + 'mlp.w1.weight': rnd(hid, D), b + 'mlp.w1.bias': rnd(hid),
                       b + 'mlp.w2.weight': rnd(hid, D), b + 'mlp.w2.bias': rnd(hid),
                       b + 'mlp.w3.weight': rnd(D, hid), b + 'mlp.w3.bias': rnd(D)})
    return sd


# ----------------------------------------------------------------------------- reference


def reference_rope(x, h, w, periods):
    """x (B, N, d) whose last h*w tokens are patches in row-major order: each pair
    (x_m, x_{m+d/2}) rotated by its angle, as a complex product."""
    d = x.shape[-1]
    out = x.clone()
    n0 = x.shape[1] - h * w
    for i in range(h):
        for j in range(w):
            y, xc = 2 * (i + 0.5) / h - 1, 2 * (j + 0.5) / w - 1
            theta = torch.tensor([2 * math.pi * y / p for p in periods.tolist()]
                                 + [2 * math.pi * xc / p for p in periods.tolist()],
                                 dtype=torch.float64)
            t = n0 + i * w + j
            z = torch.complex(x[:, t, :d // 2], x[:, t, d // 2:]) * torch.exp(1j * theta)
            out[:, t, :d // 2], out[:, t, d // 2:] = z.real, z.imag
    return out


def reference_forward(sd, img, *, layers, out_indices, ffn='mlp', reg=4):
    """float64 DINOv3 get_intermediate_layers(norm=True, reshape=True); H, W multiples of P."""
    h, w = img.shape[2] // P, img.shape[3] // P
    x = patch_embed(sd, img, P)
    B = x.shape[0]
    prefix = [sd['cls_token'].double().expand(B, -1, -1)]
    if reg:
        prefix.append(sd['storage_tokens'].double().expand(B, -1, -1))
    periods = sd['rope_embed.periods'].double()
    return vit_blocks(sd, torch.cat(prefix + [x], dim=1), grid=(h, w), layers=layers,
                      heads=HEADS, out_indices=out_indices, num_prefix=1 + reg, ln_eps=1e-5,
                      ffn=ffn, mask_k_bias=True,
                      rotate=lambda t: reference_rope(t, h, w, periods))


def loaded_model(tmp_path, sd, *, arch=None, out_indices=(0, 2), name='w.pth', **kw):
    path = tmp_path / name
    torch.save(sd, path)
    model = DINOv3(arch or tiny_arch(), out_indices=out_indices,
                   init_cfg=dict(type='Pretrained', checkpoint=str(path)), **kw)
    model.init_weights()
    return model


def assert_matches_reference(outs, refs, shape):
    assert len(outs) == len(refs)
    for out, ref in zip(outs, refs):
        assert out.shape == shape
        torch.testing.assert_close(out.double(), ref, atol=2e-5, rtol=1e-5)


# ----------------------------------------------------------------------------- forward


@pytest.mark.parametrize('ffn, reg, qkv_bias', [('mlp', 4, True), ('swiglu', 4, True),
                                                ('swiglu64', 4, False), ('mlp', 0, True)])
@pytest.mark.parametrize('hw', [(32, 32), (48, 80), (80, 32)])
def test_matches_independent_reference(tmp_path, ffn, reg, qkv_bias, hw):
    sd = official_state_dict(ffn=ffn, reg=reg, qkv_bias=qkv_bias)
    model = loaded_model(tmp_path, sd, arch=tiny_arch(ffn=ffn, reg=reg, qkv_bias=qkv_bias))
    img = torch.randn(2, 3, *hw, generator=torch.Generator().manual_seed(1))
    refs = reference_forward(sd, img, layers=3, out_indices=(0, 2), ffn=ffn, reg=reg)
    assert_matches_reference(model(img), refs, (2, D, hw[0] // P, hw[1] // P))


def test_reference_is_not_trivial(tmp_path):
    """Guard the reference: RoPE and the K-bias mask both change the output."""
    sd = official_state_dict()
    img = torch.randn(1, 3, 48, 64, generator=torch.Generator().manual_seed(2))
    ref = reference_forward(sd, img, layers=3, out_indices=(2,))[0]
    no_rope = dict(sd, **{'rope_embed.periods': torch.full((HD // 4,), 1e12)})  # angle ~ 0
    assert (reference_forward(no_rope, img, layers=3, out_indices=(2,))[0] - ref).abs().max() \
        > 1e-2
    # an unmasked K bias, with RoPE, changes attention (without RoPE it would cancel)
    model = loaded_model(tmp_path, sd, out_indices=(2,))
    for blk in model.blocks:
        blk.attn.mask_k_bias = False
    assert (model(img)[0].double() - ref).abs().max() > 1e-3


def test_non_multiple_input_is_zero_padded_bottom_right(tmp_path):
    sd = official_state_dict()
    model = loaded_model(tmp_path, sd)
    img = torch.randn(1, 3, 40, 70)
    padded = torch.zeros(1, 3, 48, 80)
    padded[..., :40, :70] = img
    refs = reference_forward(sd, padded, layers=3, out_indices=(0, 2))
    assert_matches_reference(model(img), refs, (1, D, 3, 5))  # ceil(40/16), ceil(70/16)


@pytest.mark.parametrize('out_indices, expected', [
    ((0, 1, 2, 3), (0, 1, 2, 3)), ([1, -1], (1, 3)), (2, (2,)), ((-4,), (0,))])
def test_out_indices_shapes(out_indices, expected):
    model = DINOv3(tiny_arch(4), out_indices=out_indices)
    assert model.out_indices == expected
    outs = model(torch.randn(2, 3, 33, 47))
    assert [o.shape for o in outs] == [(2, D, 3, 3)] * len(expected)


def test_default_out_indices_and_bad_configs():
    assert DEFAULT_OUT_INDICES == {12: (2, 5, 8, 11), 24: (4, 11, 17, 23),
                                   32: (7, 15, 23, 31), 40: (9, 19, 29, 39)}
    assert DINOv3(tiny_arch(12)).out_indices == (2, 5, 8, 11)
    with pytest.raises(ValueError, match='no default out_indices'):
        DINOv3(tiny_arch(3))
    with pytest.raises(ValueError, match='strictly increasing'):
        DINOv3(tiny_arch(3), out_indices=(2, 1))
    with pytest.raises(ValueError, match='unknown DINOv3 arch'):
        DINOv3('vitb14')
    with pytest.raises(ValueError, match='unknown keys'):
        DINOv3(dict(tiny_arch(), depth=3), out_indices=(0,))
    with pytest.raises(ValueError, match='ffn_type'):
        DINOv3(tiny_arch(ffn='swiglufused'), out_indices=(0,))
    with pytest.raises(ValueError, match='divisible by 4 \\* num_heads'):
        DINOv3(dict(tiny_arch(), num_heads=4, embed_dims=40), out_indices=(0,))
    with pytest.raises(ValueError, match='Pretrained'):
        DINOv3(tiny_arch(), out_indices=(0,), init_cfg=dict(type='Normal'))


# ----------------------------------------------------------------------------- hub sizes

# the hub table (dinov3/hub/backbones.py; README parameter counts in millions)
HUB = {'vits16': (384, 12, 6, 'mlp', 4.0, True, 21),
       'vits16plus': (384, 12, 6, 'swiglu', 6.0, True, 29),
       'vitb16': (768, 12, 12, 'mlp', 4.0, True, 86),
       'vitl16': (1024, 24, 16, 'mlp', 4.0, True, 300),
       'vitl16plus': (1024, 24, 16, 'swiglu', 6.0, True, None),
       'vith16plus': (1280, 32, 20, 'swiglu', 6.0, True, 840),
       'vit7b16': (4096, 40, 32, 'swiglu64', 3.0, False, 6716)}
SWIGLU_WIDTHS = {'vits16plus': 1536, 'vitl16plus': 4096, 'vith16plus': 5120, 'vit7b16': 8192}


def hub_shapes(name: str, *, sat: bool = False) -> dict:
    """Official key -> shape of a hub ViT, from the table (the 7B and SAT files carry the
    train-only local_cls_norm)."""
    dims, depth, heads, ffn, ratio, qkv_bias, _ = HUB[name]
    hid = ffn_hidden(ffn, ratio, dims)
    if ffn != 'mlp':
        assert hid == SWIGLU_WIDTHS[name]
    shapes = {'cls_token': (1, 1, dims), 'storage_tokens': (1, 4, dims), 'mask_token': (1, dims),
              'patch_embed.proj.weight': (dims, 3, 16, 16), 'patch_embed.proj.bias': (dims,),
              'rope_embed.periods': (dims // heads // 4,), 'norm.weight': (dims,),
              'norm.bias': (dims,)}
    if sat or name == 'vit7b16':
        shapes.update({'local_cls_norm.weight': (dims,), 'local_cls_norm.bias': (dims,)})
    for i in range(depth):
        b = f'blocks.{i}.'
        shapes.update({b + 'norm1.weight': (dims,), b + 'norm1.bias': (dims,),
                       b + 'attn.qkv.weight': (3 * dims, dims),
                       b + 'attn.proj.weight': (dims, dims), b + 'attn.proj.bias': (dims,),
                       b + 'ls1.gamma': (dims,), b + 'ls2.gamma': (dims,),
                       b + 'norm2.weight': (dims,), b + 'norm2.bias': (dims,)})
        if qkv_bias:
            shapes.update({b + 'attn.qkv.bias': (3 * dims,), b + 'attn.qkv.bias_mask': (3 * dims,)})
        names = ('fc1', 'fc2') if ffn == 'mlp' else ('w1', 'w2', 'w3')
        for n in names:
            out_d, in_d = (dims, hid) if n in ('fc2', 'w3') else (hid, dims)
            shapes.update({b + f'mlp.{n}.weight': (out_d, in_d), b + f'mlp.{n}.bias': (out_d,)})
    return shapes


def meta_file(tmp_path, shapes: dict, name: str) -> str:
    """A checkpoint file of meta tensors: keys and shapes only, a few kB on disk."""
    path = tmp_path / name
    torch.save({k: torch.empty(s, device='meta') for k, s in shapes.items()}, path)
    return str(path)


@pytest.mark.parametrize('arch', ARCHS)
def test_every_hub_size_loads_strictly_by_arch_name(tmp_path, arch):
    files = [meta_file(tmp_path, hub_shapes(arch), f'dinov3_{arch}_pretrain_lvd1689m.pth')]
    if arch == 'vitl16':
        files.append(meta_file(tmp_path, hub_shapes(arch, sat=True),
                               'dinov3_vitl16_pretrain_sat493m.pth'))
    with torch.device('meta'):
        model = DINOv3(arch)
    for path in files:
        model.load_pretrained(path)
    count = sum(p.numel() for p in model.parameters())
    if HUB[arch][-1] is not None:  # the README's rounded count (S: "21M" for 21.6M)
        assert count / 1e6 == pytest.approx(HUB[arch][-1], rel=0.03), count
    assert model.out_indices == DEFAULT_OUT_INDICES[HUB[arch][1]]


@pytest.mark.parametrize('file_arch, model_arch', [('vitl16plus', 'vitl16'),
                                                   ('vitb16', 'vits16'),
                                                   ('vits16plus', 'vits16')])
def test_wrong_arch_is_refused_naming_file_and_fitting_arch(tmp_path, file_arch, model_arch):
    path = meta_file(tmp_path, hub_shapes(file_arch), f'dinov3_{file_arch}.pth')
    with torch.device('meta'):
        model = DINOv3(model_arch)
    with pytest.raises(CheckpointMismatchError) as err:
        model.load_pretrained(path)
    msg = str(err.value)
    assert msg.startswith(f"DINOv3 checkpoint {path} does not fit the DINOv3 backbone "
                          f"(arch='{model_arch}')")
    assert f"hint: the checkpoint fits arch='{file_arch}'" in msg
    if HUB[file_arch][0] != HUB[model_arch][0]:  # the generic width hint names DINOv3 sizes
        assert 'another ViT size (vits16 / vits16plus 384, vitb16 768' in msg


def test_custom_shape_file_is_refused_without_a_hub_suggestion(tmp_path):
    path = tmp_path / 'tiny.pth'
    torch.save(official_state_dict(layers=2), path)
    model = DINOv3(tiny_arch(3), out_indices=(0,), pretrained=str(path))
    with pytest.raises(CheckpointMismatchError, match='no hub arch has this shape') as err:
        model.init_weights()
    assert str(path) in str(err.value) and 'missing keys' in str(err.value)


# ----------------------------------------------------------------------------- layouts


def to_timm(sd: dict) -> dict:
    """The official layout as timm's checkpoint filter writes it (eva.py)."""
    out = {}
    for k, v in sd.items():
        if k.endswith(('.periods', '.bias_mask')) or k == 'mask_token':
            continue
        if k.endswith('qkv.bias'):
            q, _, vb = v.chunk(3)
            out[k.replace('qkv.bias', 'q_bias')] = q
            out[k.replace('qkv.bias', 'v_bias')] = vb
            continue
        k = k.replace('ls1.gamma', 'gamma_1').replace('ls2.gamma', 'gamma_2')
        k = k.replace('storage_tokens', 'reg_token')
        k = k.replace('mlp.w1', 'mlp.fc1_g').replace('mlp.w2', 'mlp.fc1_x')
        k = k.replace('mlp.w3', 'mlp.fc2')
        out[k] = v
    return out


def to_hf(sd: dict, *, old_names: bool = False) -> dict:
    """The official layout as transformers' DINOv3ViTModel stores it."""
    q, kk, v, o = ('query', 'key', 'value', 'proj') if old_names else \
        ('q_proj', 'k_proj', 'v_proj', 'o_proj')
    out = {}
    for k, t in sd.items():
        if k.endswith(('.periods', '.bias_mask')):
            continue
        if k in ('cls_token', 'mask_token'):
            out['embeddings.' + k] = t.reshape(1, 1, -1)
        elif k == 'storage_tokens':
            out['embeddings.register_tokens'] = t
        elif k.startswith('patch_embed.proj.'):
            out['embeddings.patch_embeddings.' + k.split('.')[-1]] = t
        elif k.startswith('blocks.'):
            _, i, rest = k.split('.', 2)
            pre = f'layer.{i}.'
            if rest.startswith('attn.qkv.'):
                kind = rest.split('.')[-1]
                tq, tk, tv = t.chunk(3)
                out[pre + f'attention.{q}.{kind}'] = tq
                if kind == 'weight':
                    out[pre + f'attention.{kk}.{kind}'] = tk
                out[pre + f'attention.{v}.{kind}'] = tv
            elif rest.startswith('attn.proj.'):
                out[pre + f'attention.{o}.' + rest.split('.')[-1]] = t
            elif rest.startswith('ls'):
                out[pre + f'layer_scale{rest[2]}.lambda1'] = t
            elif rest.startswith('mlp.'):
                new = {'fc1': 'up_proj', 'fc2': 'down_proj', 'w1': 'gate_proj', 'w2': 'up_proj',
                       'w3': 'down_proj'}[rest.split('.')[1]]
                out[pre + f'mlp.{new}.' + rest.split('.')[-1]] = t
            else:
                out[pre + rest] = t
        else:
            out[k] = t
    return out


def k_zeroed(sd: dict) -> dict:
    out = dict(sd)
    for k in sd:
        if k.endswith('attn.qkv.bias'):
            out[k] = sd[k].clone()
            out[k][D:2 * D] = 0
    return out


@pytest.mark.parametrize('ffn', ['mlp', 'swiglu'])
@pytest.mark.parametrize('layout', ['timm', 'hf', 'hf_old'])
def test_timm_and_hf_layouts_convert_to_the_same_tensors(tmp_path, ffn, layout):
    sd = official_state_dict(ffn=ffn)
    other = to_timm(sd) if layout == 'timm' else to_hf(sd, old_names=layout == 'hf_old')
    assert not set(other) & {'storage_tokens', 'blocks.0.ls1.gamma'}
    converted = convert_dinov3_state_dict(other, num_heads=HEADS)
    expected = k_zeroed(sd)
    if layout == 'timm':
        expected['mask_token'] = torch.zeros(1, D)  # timm drops it: unused at inference
    assert set(converted) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(converted[k], v, rtol=0, atol=0, msg=k)
    img = torch.randn(1, 3, 48, 32)
    ref = loaded_model(tmp_path, sd, arch=tiny_arch(ffn=ffn))(img)
    outs = loaded_model(tmp_path, other, arch=tiny_arch(ffn=ffn), name=f'{layout}.pth')(img)
    for out, r in zip(outs, ref):
        torch.testing.assert_close(out, r, rtol=0, atol=0)


def test_timm_file_without_qkv_bias_gets_zero_bias():
    """timm's non-'_qkvb' B/L/H models have no q / v bias (they were all zero)."""
    sd = official_state_dict(layers=1)
    timm_sd = {k: v for k, v in to_timm(sd).items() if not k.endswith(('q_bias', 'v_bias'))}
    converted = convert_dinov3_state_dict(timm_sd, num_heads=HEADS)
    assert torch.equal(converted['blocks.0.attn.qkv.bias'], torch.zeros(3 * D))


@pytest.fixture
def logged(monkeypatch) -> list:
    """The converter's log messages."""
    messages = []
    monkeypatch.setattr(dinov3_converter, 'print_log', lambda msg, **kw: messages.append(msg))
    return messages


def test_missing_or_nan_bias_mask_gives_the_official_features(tmp_path, logged):
    sd = official_state_dict()
    img = torch.randn(1, 3, 32, 48)
    refs = reference_forward(sd, img, layers=3, out_indices=(0, 2))
    without = {k: v for k, v in sd.items() if not k.endswith('bias_mask')}
    nan = {k: (torch.full_like(v, float('nan')) if k.endswith('bias_mask') else v)
           for k, v in sd.items()}
    for name, variant in (('no_mask.pth', without), ('nan_mask.pth', nan)):
        outs = loaded_model(tmp_path, variant, name=name)(img)
        assert all(torch.isfinite(o).all() for o in outs)
        assert_matches_reference(outs, refs, (1, D, 2, 3))
    assert sum('dinov3#58' in m and 'nan_mask.pth' in m for m in logged) == 3  # per block
    bad = {k: (torch.ones_like(v) if k.endswith('bias_mask') else v) for k, v in sd.items()}
    with pytest.raises(ValueError, match='bias_mask') as err:
        loaded_model(tmp_path, bad, name='bad_mask.pth')
    assert 'bad_mask.pth' in str(err.value)


def test_local_cls_norm_is_accounted_for_by_name(tmp_path, logged):
    sd = official_state_dict()
    sat = dict(sd, **{'local_cls_norm.weight': torch.ones(D), 'local_cls_norm.bias':
                      torch.zeros(D)})
    model = loaded_model(tmp_path, sat, name='sat.pth')
    assert any('local_cls_norm.bias, local_cls_norm.weight' in m for m in logged)
    assert not any('local_cls_norm' in k for k in model.state_dict())


def test_wrapped_and_prefixed_checkpoints_load(tmp_path):
    sd = official_state_dict()
    img = torch.randn(1, 3, 32, 32)
    ref = loaded_model(tmp_path, sd)(img)
    wrapped = {'state_dict': {'backbone.' + k: v for k, v in sd.items()}, 'meta': {}}
    hf_wrapped = {'dinov3_vit.' + k: v for k, v in to_hf(sd).items()}
    outs = loaded_model(tmp_path, wrapped, name='wrapped.pth')(img)
    path = tmp_path / 'hf.pth'
    torch.save(hf_wrapped, path)
    model = DINOv3(tiny_arch(), out_indices=(0, 2),
                   init_cfg=dict(type='Pretrained', checkpoint=str(path), prefix='dinov3_vit.'))
    model.init_weights()
    for o in (outs, model(img)):
        for a, b in zip(o, ref):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


class _Custom:
    """A plain user class: its instances must not unpickle under weights_only."""


def test_registry_build_and_pickle_refusal(tmp_path):
    from mmseg.registry import MODELS
    sd = official_state_dict()
    path = tmp_path / 'w.pth'
    torch.save(sd, path)
    model = MODELS.build(dict(type='DINOv3', arch=tiny_arch(), out_indices=(0, 2),
                              pretrained=str(path)))
    model.init_weights()
    for k, v in model.state_dict().items():
        if not k.endswith('bias_mask'):
            assert torch.equal(v, sd[k]), k
    evil = tmp_path / 'evil.pth'
    torch.save({**sd, 'extra': _Custom()}, evil)
    with pytest.raises(CheckpointReadError,
                       match=r'refused to load DINOv3 checkpoint.*weights_only'):
        DINOv3(tiny_arch(), out_indices=(0,), pretrained=str(evil)).init_weights()


# ----------------------------------------------------------------------------- training


def test_frozen_train_equals_eval_and_nothing_needs_grad(tmp_path):
    model = loaded_model(tmp_path, official_state_dict())
    img = torch.randn(2, 3, 32, 48)
    model.eval()
    ref = model(img)
    model.train()
    assert not any(m.training for m in model.modules())
    assert not any(p.requires_grad for p in model.parameters())
    outs = model(img)
    for out, r in zip(outs, ref):
        assert not out.requires_grad
        torch.testing.assert_close(out, r, rtol=0, atol=0)


def test_rope_augmentation_only_when_asked_and_not_frozen():
    with pytest.raises(ValueError, match='frozen'):
        DINOv3(tiny_arch(), out_indices=(0,), rope_augment=dict(rescale=2.0))
    img = torch.randn(1, 3, 32, 48)
    plain = DINOv3(tiny_arch(), out_indices=(2,), frozen=False).train()
    torch.testing.assert_close(plain(img)[0], plain.eval()(img)[0], rtol=0, atol=0)
    torch.manual_seed(0)
    aug = DINOv3(tiny_arch(), out_indices=(2,), frozen=False, rope_augment=dict(rescale=2.0))
    with torch.no_grad():
        for blk in aug.blocks:  # LayerScale 1e-5 would hide the change
            blk.ls1.gamma.fill_(1.0)
    aug.train()
    a = aug(img)[0]
    assert (a - aug.eval()(img)[0]).abs().max() > 1e-4


def test_unfrozen_backbone_trains_every_used_parameter():
    model = DINOv3(tiny_arch(layers=4, ffn='swiglu'), out_indices=(0, 2), frozen=False,
                   drop_path_rate=0.2)
    model.train()
    outs = model(torch.randn(4, 3, 32, 48))
    sum(o.square().mean() for o in outs).backward()
    for name, p in model.named_parameters():
        unused = name == 'mask_token' or name.startswith('blocks.3.')
        assert p.requires_grad is not unused, name
        if not unused:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('dtype, tol', [(torch.bfloat16, 0.03)])
def test_autocast_keeps_rope_in_float32_and_is_close(tmp_path, dtype, tol):
    model = loaded_model(tmp_path, official_state_dict())
    img = torch.randn(2, 3, 48, 64)
    ref = model(img)
    with torch.autocast('cpu', dtype=dtype):
        sin, cos = model.rope_embed(3, 4)
        outs = model(img)
    assert sin.dtype == cos.dtype == torch.float32
    for out, r in zip(outs, ref):
        assert torch.isfinite(out).all()
        err = (out.float() - r).norm() / r.norm()
        assert 0 < err < tol, err


# ----------------------------------------------------------------------------- files


def write_safetensors(state: dict, path) -> None:
    """The safetensors format by hand: u64 header size, JSON header, raw little-endian data."""
    import json
    import struct
    names = {torch.float32: 'F32', torch.bfloat16: 'BF16', torch.float16: 'F16'}
    header, blobs, offset = {}, [], 0
    for k, v in state.items():
        raw = v.contiguous().view(torch.uint8).numpy().tobytes() if v.dim() else \
            v.reshape(1).view(torch.uint8).numpy().tobytes()
        header[k] = dict(dtype=names[v.dtype], shape=list(v.shape),
                         data_offsets=[offset, offset + len(raw)])
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def test_hf_safetensors_file_loads_and_bad_ones_are_named(tmp_path):
    sd = official_state_dict()
    hf = to_hf(sd)
    hf['layer.0.norm1.weight'] = hf['layer.0.norm1.weight'].bfloat16()  # dtypes are kept
    path = tmp_path / 'model.safetensors'
    write_safetensors(hf, path)
    model = DINOv3(tiny_arch(), out_indices=(0, 2), pretrained=str(path))
    model.init_weights()
    expected = k_zeroed(sd)
    expected['blocks.0.norm1.weight'] = expected['blocks.0.norm1.weight'].bfloat16().float()
    for k, v in model.state_dict().items():
        if not k.endswith('bias_mask'):
            torch.testing.assert_close(v, expected[k], rtol=0, atol=0, msg=k)
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(b'\x10\x00\x00\x00\x00\x00\x00\x00{"a": {"dtype": "F32", "shape": [4], '
                    b'"data_offsets": [0, 16]}}')
    with pytest.raises(CheckpointReadError,
                       match='could not read DINOv3 checkpoint .*bad.safetensors'):
        DINOv3(tiny_arch(), out_indices=(0,), pretrained=str(bad)).init_weights()


def test_convert_tool_writes_the_official_layout(tmp_path):
    """tools/model_converters/dinov3_to_official.py on a full-size ViT-S/16 timm file."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[3]
    g = torch.Generator().manual_seed(0)
    sd = {k: 0.02 * torch.randn(s, generator=g) for k, s in hub_shapes('vits16').items()}
    sd['rope_embed.periods'] = torch.tensor([100 ** (4 * j / 64) for j in range(16)])
    src, dst = tmp_path / 'timm.safetensors', tmp_path / 'out' / 'official.pth'
    write_safetensors(to_timm(sd), src)
    tool = root / 'tools' / 'model_converters' / 'dinov3_to_official.py'
    out = subprocess.run([sys.executable, str(tool), str(src), str(dst)], capture_output=True,
                         text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    assert "(timm layout)" in out.stdout and "DINOv3(arch='vits16')" in out.stdout
    converted = torch.load(dst, weights_only=True)
    expected = {k: v for k, v in sd.items()}
    for k in expected:
        if k.endswith('attn.qkv.bias'):
            expected[k] = torch.cat([sd[k][:384], torch.zeros(384), sd[k][768:]])
        if k.endswith('bias_mask'):
            expected[k] = torch.cat([torch.ones(384), torch.zeros(384), torch.ones(384)])
    expected['mask_token'] = torch.zeros(1, 384)
    expected.pop('local_cls_norm.weight', None)
    assert set(converted) == set(expected)
    for k, v in expected.items():
        torch.testing.assert_close(converted[k], v, rtol=1e-6, atol=0, msg=k)


def test_docs_arch_table_matches_the_models():
    """docs/en/user_guides/6_foundation_models.md: each arch's width / blocks / heads, FFN
    width and parameter count (millions, one decimal) as the model has them."""
    import re
    from pathlib import Path
    page = Path(__file__).resolve().parents[3] / 'docs/en/user_guides/6_foundation_models.md'
    rows = re.findall(r'^\| `(\w+)` \| .* \| (\d+) / (\d+) / (\d+) \| (.*?) \| ([\d.]+)M \|$',
                      page.read_text(), re.M)
    assert [r[0] for r in rows] == list(ARCHS)
    for arch, dims, depth, heads, ffn, params in rows:
        with torch.device('meta'):
            model = DINOv3(arch)
        cfg = model.arch_settings
        assert (int(dims), int(depth), int(heads)) == \
            (cfg['embed_dims'], cfg['num_layers'], cfg['num_heads']), arch
        if ffn.startswith('SwiGLU'):
            assert model.blocks[0].mlp.w1.out_features == int(ffn.split()[1].rstrip(',')), arch
        else:
            assert ffn == 'MLP' and hasattr(model.blocks[0].mlp, 'fc1'), arch
        assert ('no qkv bias' in ffn) is (not cfg['qkv_bias']), arch
        count = sum(p.numel() for p in model.parameters()) / 1e6
        assert f'{count:.1f}' == params, arch
