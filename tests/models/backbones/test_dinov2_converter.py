"""DINOv2 checkpoint key conversion: wrappers, block chunks, mmpretrain names.

The mmpretrain key names used as input here were read from mmpretrain 1.2.0
(``VisionTransformer`` / ``TransformerEncoderLayer``: ``patch_embed.projection``,
``layers.{i}.ln1``, ``attn.{qkv,proj}``, ``attn.gamma1.weight``, ``ln2``,
``ffn.layers.0.0``, ``ffn.layers.1``, ``ffn.gamma2.weight``, giant ``ffn.{w12,w3}``, final
``ln1``); the last test cross-checks against a real mmpretrain model when it imports.
"""
import importlib.util

import pytest
import torch

from mmseg_uem.models.backbones import DINOv2, convert_dinov2_state_dict

torch.set_num_threads(2)

D, HIDDEN, IMG = 32, 64, 56


def official(layers: int = 2, swiglu: bool = False, reg: int = 0) -> dict:
    """Distinct random tensors under official names (values unimportant, identity checked)."""
    sd = {'cls_token': torch.randn(1, 1, D), 'pos_embed': torch.randn(1, 17, D),
          'mask_token': torch.randn(1, D), 'patch_embed.proj.weight': torch.randn(D, 3, 14, 14),
          'patch_embed.proj.bias': torch.randn(D), 'norm.weight': torch.randn(D),
          'norm.bias': torch.randn(D)}
    if reg:
        sd['register_tokens'] = torch.randn(1, reg, D)
    ffn = (['mlp.w12.weight', 'mlp.w12.bias', 'mlp.w3.weight', 'mlp.w3.bias'] if swiglu else
           ['mlp.fc1.weight', 'mlp.fc1.bias', 'mlp.fc2.weight', 'mlp.fc2.bias'])
    for i in range(layers):
        for name in ['norm1.weight', 'norm1.bias', 'attn.qkv.weight', 'attn.qkv.bias',
                     'attn.proj.weight', 'attn.proj.bias', 'ls1.gamma', 'norm2.weight',
                     'norm2.bias', 'ls2.gamma', *ffn]:
            sd[f'blocks.{i}.{name}'] = torch.randn(3)
    return sd


# official suffix -> mmpretrain suffix, per block (written out by hand)
_TO_MMPRETRAIN_BLOCK = {
    'norm1.weight': 'ln1.weight', 'norm1.bias': 'ln1.bias',
    'attn.qkv.weight': 'attn.qkv.weight', 'attn.qkv.bias': 'attn.qkv.bias',
    'attn.proj.weight': 'attn.proj.weight', 'attn.proj.bias': 'attn.proj.bias',
    'ls1.gamma': 'attn.gamma1.weight', 'norm2.weight': 'ln2.weight', 'norm2.bias': 'ln2.bias',
    'mlp.fc1.weight': 'ffn.layers.0.0.weight', 'mlp.fc1.bias': 'ffn.layers.0.0.bias',
    'mlp.fc2.weight': 'ffn.layers.1.weight', 'mlp.fc2.bias': 'ffn.layers.1.bias',
    'mlp.w12.weight': 'ffn.w12.weight', 'mlp.w12.bias': 'ffn.w12.bias',
    'mlp.w3.weight': 'ffn.w3.weight', 'mlp.w3.bias': 'ffn.w3.bias',
    'ls2.gamma': 'ffn.gamma2.weight'}
_TO_MMPRETRAIN_TOP = {'cls_token': 'cls_token', 'pos_embed': 'pos_embed',
                      'patch_embed.proj.weight': 'patch_embed.projection.weight',
                      'patch_embed.proj.bias': 'patch_embed.projection.bias',
                      'norm.weight': 'ln1.weight', 'norm.bias': 'ln1.bias'}


def to_mmpretrain(sd: dict) -> dict:
    """An mmpretrain ImageClassifier checkpoint of the same weights (no mask token)."""
    out = {}
    for k, v in sd.items():
        if k.startswith('blocks.'):
            _, i, rest = k.split('.', 2)
            out[f'backbone.layers.{i}.{_TO_MMPRETRAIN_BLOCK[rest]}'] = v
        elif k in _TO_MMPRETRAIN_TOP:
            out['backbone.' + _TO_MMPRETRAIN_TOP[k]] = v
    out['head.fc.weight'] = torch.zeros(2)
    return {'meta': {'mmpretrain_version': '1.2.0'}, 'state_dict': out}


def same_tensors(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] is b[k] for k in a)


def test_official_layout_passes_through_unchanged():
    sd = official(reg=4)
    out = convert_dinov2_state_dict(sd)
    assert same_tensors(out, sd) and out is not sd


def test_block_chunks_are_flattened():
    sd = official(layers=4)
    # official block_chunks=2: chunk c keeps the global block index i
    chunked = {(f"blocks.{int(k.split('.')[1]) // 2}.{k[len('blocks.'):]}"
                if k.startswith('blocks.') else k): v for k, v in sd.items()}
    assert 'blocks.1.3.mlp.fc2.bias' in chunked and 'blocks.3.mlp.fc2.bias' not in chunked
    assert same_tensors(convert_dinov2_state_dict(chunked), sd)


@pytest.mark.parametrize('wrap', [
    lambda sd: {'state_dict': sd},
    lambda sd: {'model': sd, 'epoch': 3},
    lambda sd: {'state_dict': {'backbone.' + k: v for k, v in sd.items()},
                'meta': {'x': 1}},
    lambda sd: {'module.backbone.' + k: v for k, v in sd.items()},
    lambda sd: {'teacher': {**{'backbone.' + k: v for k, v in sd.items()},
                            'dino_head.mlp.0.weight': torch.zeros(1),
                            'ibot_head.mlp.0.weight': torch.zeros(1)}},
])
def test_wrappers_and_prefixes_are_stripped(wrap):
    sd = official()
    assert same_tensors(convert_dinov2_state_dict(wrap(sd)), sd)


def test_explicit_prefix_selects_a_sub_dict():
    """A UEM Lightning checkpoint keeps the ViT under ``backbone.dinov2.``."""
    sd = official()
    ckpt = {'state_dict': {**{'backbone.dinov2.' + k: v for k, v in sd.items()},
                           'backbone.learnable_layers.fpn1.0.weight': torch.zeros(1),
                           'segmentation_head.means': torch.zeros(1)}}
    assert same_tensors(convert_dinov2_state_dict(ckpt, prefix='backbone.dinov2.'), sd)


@pytest.mark.parametrize('swiglu', [False, True])
def test_mmpretrain_names_are_mapped(swiglu):
    sd = official(layers=3, swiglu=swiglu)
    ckpt = to_mmpretrain(sd)
    before = dict(ckpt['state_dict'])
    out = convert_dinov2_state_dict(ckpt)
    assert ckpt['state_dict'] == before  # input untouched
    assert set(out) == set(sd)
    for k in sd:
        if k == 'mask_token':  # absent in mmpretrain: inserted as zeros (1, D)
            assert torch.equal(out[k], torch.zeros(1, D))
        else:
            assert out[k] is sd[k], k


def test_unknown_keys_pass_through_for_the_strict_check():
    out = convert_dinov2_state_dict({'layers.0.ln1.weight': torch.ones(1),
                                     'layers.0.attn.rel_pos': torch.ones(1)})
    assert set(out) == {'blocks.0.norm1.weight', 'layers.0.attn.rel_pos'}


def test_not_a_mapping_is_rejected():
    with pytest.raises(TypeError, match='state dict'):
        convert_dinov2_state_dict([torch.zeros(1)])


def test_mmpretrain_checkpoint_loads_into_backbone(tmp_path):
    """The converted mmpretrain dict loads strictly and gives the official model's outputs."""
    torch.manual_seed(0)
    ref = DINOv2(dict(embed_dims=D, num_layers=2, num_heads=2, mlp_ratio=2.0),
                 out_indices=(0, 1), img_size=IMG)
    sd = ref.state_dict()
    path = tmp_path / 'mmpretrain.pth'
    torch.save(to_mmpretrain(sd), path)
    model = DINOv2(dict(embed_dims=D, num_layers=2, num_heads=2, mlp_ratio=2.0),
                   out_indices=(0, 1), img_size=IMG, pretrained=str(path))
    model.init_weights()
    img = torch.randn(1, 3, 42, 70)
    for a, b in zip(model(img), ref(img)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def _mmpretrain_available() -> bool:
    return (importlib.util.find_spec('mmpretrain') is not None
            and importlib.util.find_spec('mmcv') is not None)


@pytest.mark.skipif(not _mmpretrain_available(), reason='mmpretrain / mmcv not importable')
def test_real_mmpretrain_vit_cross_check():
    """A real mmpretrain VisionTransformer (tiny DINOv2-style arch) and our backbone loaded
    from its converted state dict agree at the stored grid size (where both leave the
    position embedding untouched); our intermediate maps equal mmpretrain's raw ones after
    its final ``ln1``."""
    from mmpretrain.models.backbones.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    arch = dict(embed_dims=D, num_layers=3, num_heads=2, feedforward_channels=HIDDEN)
    theirs = VisionTransformer(arch=arch, img_size=IMG, patch_size=14, out_indices=[0, 2],
                               out_type='raw', layer_scale_init_value=0.5, final_norm=True)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.2)
    theirs.eval()
    state = convert_dinov2_state_dict({'state_dict': {'backbone.' + k: v for k, v in
                                                      theirs.state_dict().items()}})
    ours = DINOv2(dict(embed_dims=D, num_layers=3, num_heads=2, mlp_ratio=HIDDEN / D),
                  out_indices=(0, 2), img_size=IMG)
    ours.load_state_dict(state, strict=True)
    img = torch.randn(2, 3, IMG, IMG)
    with torch.no_grad():
        raw = theirs(img)  # (B, 1 + h*w, D) per index; the last already through ln1
    for i, (mine, their) in enumerate(zip(ours(img), raw)):
        tokens = their[:, 1:] if i == len(raw) - 1 else theirs.ln1(their)[:, 1:]
        expected = tokens.reshape(2, 4, 4, D).permute(0, 3, 1, 2)
        torch.testing.assert_close(mine, expected, atol=1e-5, rtol=1e-5)
