"""Tests of FrozenBackbone on tiny mmpretrain ViT (CLIP-style) and mmseg Swin backbones."""
import pytest
import torch
from mmseg.registry import MODELS

import mmseg_uem  # noqa: F401  (registration)
from mmseg_uem.models.backbones import FrozenBackbone
from mmseg_uem.models.decode_heads import UEMPixelDecoder

# CLIP-style ViT (pre-norm, no patch-embed bias, QuickGELU), 4 blocks of 32 dims, patch 8;
# dropout on so that a module left in train mode would give random outputs
TINY_VIT = dict(type='mmpretrain.VisionTransformer',
                arch=dict(embed_dims=32, num_layers=4, num_heads=2, feedforward_channels=64),
                img_size=32, patch_size=8, out_type='featmap', out_indices=[0, 1, 2, 3],
                pre_norm=True, drop_rate=0.5, layer_cfgs=dict(act_cfg=dict(type='QuickGELU')))
TINY_SWIN = dict(type='SwinTransformer', pretrain_img_size=64, embed_dims=8, depths=[1, 1, 1, 1],
                 num_heads=[1, 1, 2, 2], window_size=4, drop_rate=0.5, drop_path_rate=0.5)


def _image(batch=2, height=32, width=48, seed=0):
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def _random_weights(cfg):
    """An inner backbone whose every parameter differs from its initial value."""
    torch.manual_seed(1)
    source = MODELS.build(cfg)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(torch.randn_like(p))
    return source


def _frozen(cfg, **kwargs):
    torch.manual_seed(0)
    return MODELS.build(dict(type='FrozenBackbone', backbone=cfg, **kwargs))


@pytest.mark.parametrize('cfg,shapes,stride', [
    (TINY_VIT, [(2, 32, 4, 6)] * 4, 8),
    (TINY_SWIN, [(2, 8, 8, 12), (2, 16, 4, 6), (2, 32, 2, 3), (2, 64, 1, 2)], 4),
])
def test_outputs_equal_the_inner_backbone_in_eval_mode(cfg, shapes, stride):
    wrapper = _frozen(cfg)
    torch.manual_seed(0)
    inner = MODELS.build(cfg)  # same seed: same weights
    inner.eval()  # (mmpretrain / mmseg backbones' train() returns None)
    x = _image()
    outs = wrapper(x)
    assert isinstance(outs, tuple) and [tuple(o.shape) for o in outs] == shapes
    for got, expected in zip(outs, inner(x)):
        assert torch.equal(got, expected)
    assert wrapper.patch_size == stride  # inferred from patch_embed.projection


def test_no_parameter_requires_grad_and_no_graph_is_kept():
    wrapper = _frozen(TINY_VIT)
    assert not wrapper.training and not wrapper.backbone.training
    assert all(not p.requires_grad for p in wrapper.parameters())
    outs = wrapper(_image().requires_grad_())
    assert all(not o.requires_grad and o.grad_fn is None for o in outs)


@pytest.mark.parametrize('cfg', [TINY_VIT, TINY_SWIN])
def test_eval_mode_is_kept_whatever_train_is_called_with(cfg):
    wrapper = _frozen(cfg)
    parent = torch.nn.Sequential(wrapper).train()
    assert parent.training
    assert not any(m.training for m in wrapper.modules())
    x = _image()
    for first, second in zip(wrapper(x), wrapper(x)):  # dropout / drop-path would differ
        assert torch.equal(first, second)


def test_parameters_bitwise_unchanged_after_an_optimizer_step():
    wrapper = _frozen(TINY_VIT)
    decoder = UEMPixelDecoder(32, 32, final_mlp_channels=8)
    before = {k: v.clone() for k, v in wrapper.state_dict().items()}
    decoder_before = [p.detach().clone() for p in decoder.parameters()]
    model = torch.nn.Sequential(wrapper, decoder).train()
    optim = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    model(_image()).square().mean().backward()
    optim.step()
    for name, value in wrapper.state_dict().items():
        assert torch.equal(value, before[name]), name
    assert any(not torch.equal(p, q) for p, q in zip(decoder.parameters(), decoder_before))


def test_swin_maps_feed_the_hierarchical_decoder():
    wrapper = _frozen(TINY_SWIN)
    decoder = UEMPixelDecoder([8, 16, 32, 64], 32, pyramid='none', final_mlp_channels=8)
    out = decoder(wrapper(_image(height=52, width=100)))  # Swin pads 13x25 -> 7x13 -> ...
    assert out.shape == (2, 32, 13, 25)  # stride 4: ceil(52 / 4) x ceil(100 / 4)


def test_pretrained_init_cfg_reaches_the_inner_backbone(tmp_path):
    source = _random_weights(TINY_VIT)
    # keys as mmpretrain's openai-clip converter writes them: the image tower under 'visual.'
    path = str(tmp_path / 'clip.pth')
    torch.save({'visual.' + k: v for k, v in source.state_dict().items()}, path)
    wrapper = _frozen(TINY_VIT, init_cfg=dict(type='Pretrained', checkpoint=path,
                                              prefix='visual.'))
    assert wrapper.backbone.init_cfg['checkpoint'] == path
    wrapper.init_weights()
    for name, value in source.state_dict().items():
        assert torch.equal(wrapper.backbone.state_dict()[name], value), name
    assert all(not p.requires_grad for p in wrapper.parameters())
    assert not wrapper.training


def test_pretrained_swin_loads_through_its_own_loader(tmp_path):
    source = _random_weights(TINY_SWIN)
    path = str(tmp_path / 'swin.pth')
    torch.save({'state_dict': source.state_dict()}, path)
    wrapper = _frozen(TINY_SWIN, init_cfg=dict(type='Pretrained', checkpoint=path))
    wrapper.init_weights()
    for name, value in source.state_dict().items():
        assert torch.equal(wrapper.backbone.state_dict()[name], value), name


def test_checkpoint_with_foreign_keys_raises(tmp_path):
    source = MODELS.build(TINY_SWIN)
    path = str(tmp_path / 'official.pth')
    # official Swin names ('layers.*') that mmseg's Swin does not know: nothing would load
    torch.save({'model': {k.replace('stages', 'layers'): v
                          for k, v in source.state_dict().items() if k.startswith('stages')}},
               path)
    wrapper = _frozen(TINY_SWIN, init_cfg=dict(type='Pretrained', checkpoint=path))
    with pytest.raises(RuntimeError, match='changed no parameter'):
        wrapper.init_weights()


def test_bad_config_raises():
    pretrained = dict(type='Pretrained', checkpoint='x.pth')
    with pytest.raises(ValueError, match='not both'):
        FrozenBackbone(dict(TINY_VIT, init_cfg=pretrained), init_cfg=pretrained)
    assert FrozenBackbone(TINY_VIT, patch_size=16).patch_size == 16
