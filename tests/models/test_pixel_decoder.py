"""Tests of UEMPixelDecoder: output geometry, parameter count of the paper's decoder, grads."""
import pytest
import torch
from mmseg.registry import MODELS

from mmseg_uem.models.decode_heads import UEMPixelDecoder


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


def _samples(labels):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    out = []
    for lab in labels:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=lab[None].long())
        out.append(s)
    return out


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
    losses = head.loss(_maps(), _samples(lab), None)
    as_void = lab.clone()
    as_void[lab == 254] = 255
    torch.testing.assert_close(losses['loss_ce'],
                               head.loss(_maps(), _samples(as_void), None)['loss_ce'])
    # CE averaged over the non-ignored pixels only (as F.cross_entropy with ignore_index)
    up = torch.nn.functional.interpolate(logits, size=(40, 56), mode='bilinear')
    expected = torch.nn.functional.cross_entropy(up, as_void, ignore_index=255)
    torch.testing.assert_close(losses['loss_ce'], expected, rtol=1e-5, atol=1e-6)
    losses['loss_ce'].backward()
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
