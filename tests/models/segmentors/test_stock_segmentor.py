"""UEMEncoderDecoder on stock mmseg segmentors and their released checkpoints.

Tiny SegFormer (MiT + SegformerHead: logits at stride 4, UEM on the stride-32 map) and
DeepLabV3+ (ResNetV1c-D8 + DepthwiseSeparableASPPHead + an auxiliary FCNHead: logits at
stride 4, UEM on the stride-8 map), stated through mmseg's own model primitives
(``mmseg_uem.testing.stock_models``). The reference is mmseg's ``EncoderDecoder`` itself,
loaded with mmengine's ``load_checkpoint`` from a file in the model zoo's format.
"""
import copy

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.model import BaseModule
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from torch import nn

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.testing.batches import synthetic_batch
from mmseg_uem.testing.stock_models import CROP, stock_cfg, uem_cfg

torch.set_num_threads(2)
init_default_scope('mmseg')
FAMILIES = ('segformer', 'deeplabv3plus')
CLASSES = 3
SLIDE = dict(mode='slide', crop_size=(32, 32), stride=(24, 24))


def zoo_checkpoint(family: str, path, seed: int = 0) -> nn.Module:
    """A stock model with random weights and BatchNorm statistics, saved as mmseg's model
    zoo saves its checkpoints (meta with classes, palette and config text)."""
    torch.manual_seed(seed)
    stock = MODELS.build(stock_cfg(family, num_classes=CLASSES))
    stock.init_weights()
    with torch.no_grad():
        for module in stock.modules():
            if isinstance(module, nn.BatchNorm2d):  # eval-mode BN must read these
                module.running_mean.normal_()
                module.running_var.uniform_(0.5, 2.0)
    meta = dict(CLASSES=('road', 'car', 'sky'), PALETTE=[[128, 64, 128]] * 3,
                config='model = dict(...)', mmseg_version='0.20.0')
    torch.save(dict(meta=meta, state_dict=stock.state_dict()), path)
    return stock


def stock_from_zoo(family: str, path, *, frozen: bool = False) -> nn.Module:
    """The reference: mmseg's EncoderDecoder with the checkpoint loaded as mmseg loads it;
    ``frozen``: its parameters set not to require gradients, as stage 2 sets them."""
    stock = MODELS.build(stock_cfg(family, num_classes=CLASSES))
    load_checkpoint(stock, str(path), map_location='cpu', strict=True)
    return stock.requires_grad_(not frozen).eval()


def build_uem(family: str, path, seed: int = 1, **kw) -> nn.Module:
    torch.manual_seed(seed)
    cfg = uem_cfg(family, str(path), num_classes=CLASSES, **kw.pop('uem', {}))
    cfg.update(kw)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


def samples(inputs, ori_shape=None, **meta):
    shape = tuple(inputs.shape[2:])
    base = dict(ori_shape=ori_shape or shape, img_shape=shape, pad_shape=shape,
                padding_size=[0, 0, 0, 0])
    return [SegDataSample(metainfo={**base, **meta}) for _ in range(inputs.shape[0])]


def predictions(model, inputs, **meta):
    model.eval()
    with torch.no_grad():
        out = model.predict(inputs, samples(inputs, **meta))
    return (torch.stack([o.seg_logits.data for o in out]),
            torch.stack([o.pred_sem_seg.data for o in out]))


def stock_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if k.startswith(('backbone.', 'decode_head.'))}


# ------------------------------------------------------------------ bitwise predictions
@pytest.mark.parametrize('mode', ['whole', 'slide'])
@pytest.mark.parametrize('family', FAMILIES)
def test_stock_predictions_bitwise_unchanged(family, mode, tmp_path):
    path = tmp_path / f'{family}.pth'
    zoo_checkpoint(family, path)
    # batch_windows = the batch (2): each forward pass is one of mmseg's calls
    test_cfg = dict(SLIDE, batch_windows=2) if mode == 'slide' else dict(mode='whole')
    stock = stock_from_zoo(family, path)
    frozen = stock_from_zoo(family, path, frozen=True)
    for ref in (stock, frozen):
        ref.test_cfg = ConfigDict(SLIDE if mode == 'slide' else dict(mode='whole'))
    model = build_uem(family, path, test_cfg=test_cfg)
    inputs = torch.randn(2, 3, 40, 64, generator=torch.Generator().manual_seed(3))
    flip = dict(flip=True, flip_direction='horizontal')
    for meta in (dict(), dict(ori_shape=(51, 77), **flip)):
        logits, pred = predictions(model, inputs, **meta)
        ref_logits, ref_pred = predictions(frozen, inputs, **meta)
        assert torch.equal(logits, ref_logits), (family, mode, meta)
        assert torch.equal(pred, ref_pred), (family, mode, meta)
        ref_logits, ref_pred = predictions(stock, inputs, **meta)
        if family == 'deeplabv3plus':  # convolutions: bitwise as mmseg runs the model
            assert torch.equal(logits, ref_logits), (family, mode, meta)
            assert torch.equal(pred, ref_pred), (family, mode, meta)
            continue
        # torch's matmul folds a 3-D operand only when the other does not require grad
        # (even under no_grad): MiT's attention rounds differently once its parameters
        # are frozen, by float32 ulps; class predictions can differ only at near-ties
        torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
        top2 = ref_logits.topk(2, dim=1).values
        near_tie = (top2[:, 0] - top2[:, 1] < 1e-5)[:, None]
        assert torch.equal(pred[~near_tie], ref_pred[~near_tie]), (family, mode, meta)
    # and with the anomaly map next to them: finite, at the original size
    model.eval()
    with torch.no_grad():
        out = model.predict(inputs, samples(inputs, ori_shape=(51, 77)))
    assert out[0].pred_anomaly_score.data.shape == (1, 51, 77)
    assert all(torch.isfinite(o.pred_anomaly_score.data).all() for o in out)


def test_batched_windows_match_the_loop(tmp_path):
    """Batched sliding windows: the same class predictions, logits within float rounding."""
    path = tmp_path / 'segformer.pth'
    zoo_checkpoint('segformer', path)
    loop = build_uem('segformer', path, test_cfg=dict(SLIDE, batch_windows=1))
    batched = build_uem('segformer', path, test_cfg=dict(SLIDE, batch_windows=8))
    inputs = torch.randn(2, 3, 40, 64, generator=torch.Generator().manual_seed(4))
    ref_logits, ref_pred = predictions(loop, inputs)
    logits, pred = predictions(batched, inputs)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-5, atol=1e-5)
    assert (pred != ref_pred).float().mean() < 1e-3


# ------------------------------------------------------------------------- stage 2
@pytest.mark.parametrize('classifier', ['linear', 'gmm'])  # D-D and D-G
@pytest.mark.parametrize('family', FAMILIES)
def test_stage2_trains_uem_and_keeps_stock_bitwise(family, classifier, tmp_path):
    path = tmp_path / f'{family}.pth'
    zoo_checkpoint(family, path)
    stock = stock_from_zoo(family, path, frozen=True)
    model = build_uem(family, path, uem=dict(classifier=classifier))
    assert type(model.auxiliary_head).__name__ == 'UEMHead'  # the stock FCNHead is gone
    probe = torch.randn(2, 3, 48, 64, generator=torch.Generator().manual_seed(5))
    ref = predictions(stock, probe)
    before = stock_state(model)  # loaded from the zoo file: every stock tensor, unchanged
    assert set(before) == {k for k in stock.state_dict()
                           if k.startswith(('backbone.', 'decode_head.'))}
    assert all(torch.equal(before[k], v) for k, v in stock.state_dict().items() if k in before)

    model.train()  # the Runner's call: the stock modules stay in eval mode
    assert not model.backbone.training and not model.decode_head.training
    assert model.auxiliary_head.training
    uem_before = {k: v.clone() for k, v in model.auxiliary_head.named_parameters()}
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    for step in range(2):
        imgs, data_samples = synthetic_batch(2, CROP, num_classes=CLASSES,
                                             device=torch.device('cpu'), seed=step)
        losses = model.loss(imgs, data_samples)
        total, _ = model.parse_losses(losses)
        wrapper.backward(total)
        if step == 0:
            assert 'uem.loss_bce' in losses and torch.isfinite(total)
            for name, p in model.auxiliary_head.named_parameters():
                assert p.grad is not None and p.grad.abs().sum() > 0, f'no gradient: {name}'
            assert all(p.grad is None and not p.requires_grad
                       for m in (model.backbone, model.decode_head) for p in m.parameters())
        wrapper.step()
        wrapper.zero_grad()

    after = stock_state(model)
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f'stock tensors changed: {changed[:10]}'
    assert all(not torch.equal(p, uem_before[k])
               for k, p in model.auxiliary_head.named_parameters())
    logits, pred = predictions(model, probe)
    assert torch.equal(logits, ref[0]) and torch.equal(pred, ref[1])


def test_uem_on_a_chosen_level(tmp_path):
    """in_index picks another backbone map (MiT's stride-16 stage, 40 channels)."""
    path = tmp_path / 'segformer.pth'
    zoo_checkpoint('segformer', path)
    model = build_uem('segformer', path, uem=dict(in_index=2, in_channels=40))
    inputs = torch.randn(1, 3, 64, 64)
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        o = model.auxiliary_head(feats)
        out = model.predict(inputs, samples(inputs))
    assert o.shape == (1, 2, 4, 4)  # 64 / 16
    assert out[0].pred_anomaly_score.data.shape == (1, 64, 64)


def test_released_weights_come_only_from_the_checkpoint(tmp_path):
    """The stock config names ImageNet weights (pretrained=..., init_cfg Pretrained with a
    URL): stage 2 reads none of them (nothing is downloaded), only stage1_checkpoint."""
    path = tmp_path / 'deeplabv3plus.pth'
    zoo_checkpoint('deeplabv3plus', path)
    cfg = uem_cfg('deeplabv3plus', str(path), num_classes=CLASSES)
    cfg['pretrained'] = 'open-mmlab://resnet18_v1c'
    cfg['backbone']['init_cfg'] = None
    cfg['decode_head']['init_cfg'] = dict(type='Pretrained', checkpoint='https://x.invalid/h.pth')
    model = MODELS.build(cfg)
    assert 'Pretrained' not in str(model.backbone.init_cfg)
    assert 'Pretrained' not in str(model.decode_head.init_cfg)
    model.init_weights()  # would fail offline (or on the .invalid host) if it tried
    stock = stock_from_zoo('deeplabv3plus', path)
    ref = {k: v for k, v in stock.state_dict().items() if k.startswith('backbone.')}
    assert all(torch.equal(model.state_dict()[k], v) for k, v in ref.items())


# ---------------------------------------------------------------------------- refused
@MODELS.register_module()
class _TestMaskClassificationHead(BaseModule):
    """Stands in for Mask2FormerHead (not a BaseDecodeHead; mmdet is not installed)."""

    def __init__(self, **kwargs):
        super().__init__()
        self.align_corners, self.num_classes, self.out_channels = False, CLASSES, CLASSES


def _with(cfg: dict, **changes) -> dict:
    cfg = copy.deepcopy(cfg)
    for key, value in changes.items():
        cfg[key] = value
    return cfg


def test_unsupported_segmentors_and_heads_are_refused_by_name():
    base = uem_cfg('deeplabv3plus', None, num_classes=CLASSES)
    head = base['decode_head']
    fcn = stock_cfg('deeplabv3plus', num_classes=CLASSES)['auxiliary_head']
    cases = {
        'CascadeEncoderDecoder': _with(base, num_stages=2, decode_head=[head, head]),
        'list of 2 decode heads': _with(base, decode_head=[head, head]),
        r"auxiliary_head is a list \['UEMHead', 'FCNHead'\]":
            _with(base, auxiliary_head=[base['auxiliary_head'], fcn]),
        "auxiliary_head is 'FCNHead'.*_delete_=True": _with(base, auxiliary_head=fcn),
        r"keys \['concat_input', 'num_convs'\].*_delete_=True":
            _with(base, auxiliary_head={**fcn, **base['auxiliary_head']}),
        'not an mmseg BaseDecodeHead.*Mask2FormerHead':
            _with(base, decode_head=dict(type='_TestMaskClassificationHead')),
        'DAHead overrides BaseDecodeHead.predict': _with(base, decode_head=dict(
            type='DAHead', in_channels=64, channels=8, pam_channels=4, num_classes=CLASSES)),
        'out_channels=1 .*binary': _with(base, decode_head=dict(
            head, num_classes=2, out_channels=1,
            loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=True))),
    }
    for pattern, cfg in cases.items():
        with pytest.raises(ValueError, match=pattern):
            MODELS.build(cfg)
