"""Tests of UEMPixelDecoder: output geometry, parameter count of the paper's decoder, grads."""
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_uem.models.decode_heads import UEMPixelDecoder
from mmseg_uem.testing.batches import label_samples


def _maps(batch=2, dims=32, height=5, width=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, dims, height, width, generator=g) for _ in range(4)]


def test_parameter_count_matches_official_dinov2_fpn():
    # DINOv2-B (768) -> 256: 14,958,592 parameters (reference count of DINOv2FPN incl. its MLP)
    decoder = UEMPixelDecoder(768, 256)
    assert sum(p.numel() for p in decoder.parameters()) == 14_958_592


@pytest.mark.parametrize('height,width', [(5, 7), (4, 6), (2, 3)])
def test_output_is_stride_quarter_of_patch_grid(height, width):
    decoder = MODELS.build(dict(type='UEMPixelDecoder', in_channels=32, channels=32))
    out = decoder(_maps(height=height, width=width))
    assert out.shape == (2, 32, 4 * height, 4 * width)
    assert torch.isfinite(out).all()


def test_without_final_mlp_and_with_bn():
    decoder = UEMPixelDecoder(32, 16, final_mlp_channels=None, norm_cfg=dict(type='BN'))
    assert decoder.final_mlp is None
    assert decoder.lateral_convs[2].in_channels == 32
    assert decoder(_maps()).shape == (2, 16, 20, 28)


def test_every_parameter_gets_a_gradient():
    decoder = UEMPixelDecoder(32, 32, final_mlp_channels=16)
    decoder(_maps()).square().mean().backward()
    for name, p in decoder.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_final_tokens_feed_the_x1_level():
    decoder = UEMPixelDecoder(32, 32).eval()
    maps = _maps()
    changed = [m.clone() for m in maps]
    changed[3] = changed[3] + 1.0  # only the final tokens change
    assert not torch.allclose(decoder(maps), decoder(changed))


def test_bad_inputs_raise():
    decoder = UEMPixelDecoder(32, 32)
    with pytest.raises(ValueError, match='4 ViT maps'):
        decoder(_maps()[:3])
    maps = _maps()
    maps[1] = maps[1][..., :-1]
    with pytest.raises(ValueError, match='one shape'):
        decoder(maps)
    with pytest.raises(ValueError, match='at least 2x2'):
        decoder(_maps(height=1))




def test_linear_decoder_head_forward_loss_and_ignored_labels():
    torch.manual_seed(0)
    head = MODELS.build(dict(type='LinearDecoderHead', in_channels=[32] * 4, channels=32,
                             num_classes=3, final_mlp_channels=16))
    assert head.conv_seg.in_channels == 32 and head.conv_seg.out_channels == 3
    assert head.dropout is None and head.outlier_index == 254
    logits = head(_maps())
    assert logits.shape == (2, 3, 20, 28)
    lab = torch.randint(0, 3, (2, 40, 56))
    lab[:, :5] = 254
    lab[:, -5:] = 255
    losses = head.loss(_maps(), label_samples(lab), None)
    as_void = lab.clone()
    as_void[lab == 254] = 255
    torch.testing.assert_close(losses['loss_ce'],
                               head.loss(_maps(), label_samples(as_void), None)['loss_ce'])
    # CE averaged over the non-ignored pixels only (as F.cross_entropy with ignore_index)
    up = torch.nn.functional.interpolate(logits, size=(40, 56), mode='bilinear')
    expected = torch.nn.functional.cross_entropy(up, as_void, ignore_index=255)
    torch.testing.assert_close(losses['loss_ce'], expected, rtol=1e-5, atol=1e-6)
    losses['loss_ce'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


# ----------------------------------------------------------------- pyramid='none'
SWIN_LIKE = [16, 32, 64, 128]  # channels double per stage, as Swin's 128/256/512/1024


def _pyramid(batch=2, grids=((16, 24), (8, 12), (4, 6), (2, 3)), channels=SWIN_LIKE, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, c, h, w, generator=g) for c, (h, w) in zip(channels, grids)]


def test_hierarchical_parameter_count_for_swin_b():
    # laterals (128+1 + 256+1 + 512+1 + 1024+256+1) * 256 = 558,080; final MLP
    # 1024*512+512 + 512*256+256 = 656,128; 4 FPN 3x3 convs 4 * (9*256*256 + 256) = 2,360,320;
    # 7 bias-free 3x3 ConvModules + GN (1 + 1 + 2 + 3) * (9*256*256 + 2*256) = 4,132,352
    decoder = UEMPixelDecoder([128, 256, 512, 1024], 256, pyramid='none')
    assert sum(p.numel() for p in decoder.parameters()) == 7_706_880
    assert not hasattr(decoder, 'up4') and not hasattr(decoder, 'down2')


@pytest.mark.parametrize('grids', [
    ((16, 24), (8, 12), (4, 6), (2, 3)),  # a 64x96 image through Swin (strides 4..32)
    ((13, 25), (7, 13), (4, 7), (2, 4)),  # 52x100: Swin pads each odd grid up
])
def test_hierarchical_output_has_the_finest_grid(grids):
    decoder = MODELS.build(dict(type='UEMPixelDecoder', in_channels=SWIN_LIKE, channels=32,
                                pyramid='none', final_mlp_channels=16))
    out = decoder(_pyramid(grids=grids))
    assert out.shape == (2, 32, *grids[0])
    assert torch.isfinite(out).all()


def test_hierarchical_gradients_reach_every_parameter_and_input():
    decoder = UEMPixelDecoder(SWIN_LIKE, 32, pyramid='none', final_mlp_channels=16)
    maps = [m.requires_grad_() for m in _pyramid()]
    decoder(maps).square().mean().backward()
    for name, p in decoder.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    for i, m in enumerate(maps):
        assert m.grad.abs().sum() > 0, i


def test_hierarchical_final_mlp_joins_the_last_level():
    decoder = UEMPixelDecoder(SWIN_LIKE, 32, pyramid='none', final_mlp_channels=16).eval()
    assert [c.in_channels for c in decoder.lateral_convs] == [16, 32, 64, 128 + 32]
    assert decoder.final_mlp[0].in_channels == 128
    plain = UEMPixelDecoder(SWIN_LIKE, 32, pyramid='none', final_mlp_channels=None)
    assert plain.final_mlp is None
    assert [c.in_channels for c in plain.lateral_convs] == SWIN_LIKE
    maps = _pyramid()
    changed = [m.clone() for m in maps]
    changed[3] = changed[3] + 1.0
    assert not torch.allclose(decoder(maps), decoder(changed))


def test_hierarchical_bad_config_and_inputs_raise():
    with pytest.raises(ValueError, match='pyramid must be one of'):
        UEMPixelDecoder(32, 32, pyramid='fpn')
    with pytest.raises(ValueError, match='4 maps'):
        UEMPixelDecoder(32, 32, pyramid='none')
    with pytest.raises(ValueError, match='4 maps'):
        UEMPixelDecoder(SWIN_LIKE[:3], 32, pyramid='none')
    with pytest.raises(TypeError, match='int'):
        UEMPixelDecoder(SWIN_LIKE, 32)
    decoder = UEMPixelDecoder(SWIN_LIKE, 32, pyramid='none')
    with pytest.raises(ValueError, match='4 backbone maps'):
        decoder(_pyramid()[:3])
    with pytest.raises(ValueError, match='channels'):
        decoder(_pyramid(channels=[16, 32, 64, 64]))
    with pytest.raises(ValueError, match='finest to coarsest'):
        decoder(_pyramid(grids=((2, 3), (4, 6), (8, 12), (16, 24))))
    maps = _pyramid()
    maps[1] = maps[1][:1]
    with pytest.raises(ValueError, match='batch'):
        decoder(maps)


@pytest.mark.parametrize('head_type', ['GMMHead', 'LinearDecoderHead'])
def test_heads_take_hierarchical_maps(head_type):
    torch.manual_seed(0)
    extra = dict(gmm_cfg=dict(memory_size=30, num_components=2)) if head_type == 'GMMHead' else {}
    head = MODELS.build(dict(type=head_type, in_channels=SWIN_LIKE, channels=32, num_classes=3,
                             pyramid='none', final_mlp_channels=16, **extra))
    assert head.decoder.pyramid == 'none' and head.decoder.in_channels == SWIN_LIKE
    maps = _pyramid()
    assert head(maps).shape == (2, 3, 16, 24)  # the stride-4 grid of a 64x96 image
    lab = torch.randint(0, 3, (2, 64, 96))
    lab[:, :4] = 255
    lab[:, -4:, :8] = 254
    losses = head.loss(maps, label_samples(lab), None)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


@pytest.mark.parametrize('head_type', ['GMMHead', 'LinearDecoderHead'])
def test_heads_check_in_channels_per_pyramid(head_type):
    base = dict(type=head_type, channels=32, num_classes=3)
    with pytest.raises(ValueError, match='4 equal'):  # the ViT check stays for 'simple'
        MODELS.build(dict(base, in_channels=SWIN_LIKE))
    with pytest.raises(ValueError, match='4 backbone maps'):
        MODELS.build(dict(base, in_channels=SWIN_LIKE[:3], in_index=[0, 1, 2], pyramid='none'))
    with pytest.raises(ValueError, match='pyramid must be one of'):
        MODELS.build(dict(base, in_channels=SWIN_LIKE, pyramid='swin'))
