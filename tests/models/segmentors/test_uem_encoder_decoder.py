"""Tests of UEMEncoderDecoder: stage freezing, stage-1 loading, sliding windows, scores.

Tiny models on CPU: DINOv2 with 32 dims / 4 blocks / 2 heads, decoders with 16 channels,
K = 3 inlier classes, labels 254 (pasted outlier) and 255 (void).
"""
import copy
import warnings

import pytest
import torch
import torch.nn.functional as F
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.models.utils import window_grid
from mmseg_uem.testing.models import segmentor_cfg
from mmseg_uem.utils.checkpoint import CheckpointMismatchError

torch.set_num_threads(2)
DIMS, CLASSES, OUTLIER, VOID = 32, 3, 254, 255
GN = dict(type='GN', num_groups=4, requires_grad=True)
GMM_SMALL = dict(num_components=2, memory_size=12, max_sample_per_component=4,
                 update_interval=1)  # EM every step: a stray update would show at once
PREPROCESSOR = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=False, pad_val=0,
                    seg_pad_val=VOID, size_divisor=14)
VARIANTS = {  # (inlier head, UEM classifier)
    'G-G': ('GMMHead', 'gmm'), 'G-D': ('GMMHead', 'linear'), 'D-D': ('LinearDecoderHead', 'linear')}


def model_cfg(head='GMMHead', uem=None, stage=1, backbone='DINOv2', **kw) -> dict:
    """Tiny model; ``backbone='DINOv3'``: a DINOv3-architecture ViT (RoPE, 4 storage tokens,
    LayerScale, patch 16) in place of DINOv2."""
    variant = ('G' if head == 'GMMHead' else 'D') + {None: '', 'gmm': '-G', 'linear': '-D'}[uem]
    extra = dict(backbone=dict(img_size=56), data_preprocessor=PREPROCESSOR)
    if backbone == 'DINOv3':
        extra = dict(backbone_type='DINOv3', data_preprocessor=dict(PREPROCESSOR, size_divisor=16))
    cfg = segmentor_cfg(variant, arch=dict(embed_dims=DIMS, num_layers=4, num_heads=2),
                        out_indices=(0, 1, 2, 3), channels=16, num_classes=CLASSES,
                        mlp_channels=(16, 16, 8), final_mlp_channels=16, norm_cfg=GN,
                        gmm_cfg=GMM_SMALL, alpha=0.5, **extra)
    cfg['stage'] = stage
    cfg.update(kw)
    return cfg


def build(cfg: dict, seed: int = 0):
    torch.manual_seed(seed)
    return MODELS.build(copy.deepcopy(cfg))


def train_batch(seed=0, batch=2, height=42, width=56) -> dict:
    """Raw (uint8-range) images and labels with void and pasted outliers, as a dataloader."""
    g = torch.Generator().manual_seed(seed)
    samples, imgs = [], []
    for _ in range(batch):
        imgs.append(torch.randint(0, 256, (3, height, width), generator=g).float())
        lab = torch.randint(0, CLASSES, (height, width), generator=g)
        lab[:4] = VOID
        lab[-14:, :14] = OUTLIER
        s = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width)))
        s.gt_sem_seg = PixelData(data=lab[None])
        samples.append(s)
    return dict(inputs=imgs, data_samples=samples)


def images(seed=1, batch=2, height=42, width=56) -> torch.Tensor:
    return torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(seed))


def samples_for(inputs, **meta):
    base = dict(ori_shape=inputs.shape[2:], img_shape=inputs.shape[2:],
                pad_shape=inputs.shape[2:], padding_size=[0, 0, 0, 0])
    return [SegDataSample(metainfo={**base, **meta}) for _ in range(inputs.shape[0])]


def grad_step(model, optim_wrapper, data) -> dict:
    """One loss + backward through mmengine's OptimWrapper; returns losses and leaves grads."""
    data = model.data_preprocessor(copy.deepcopy(data), True)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    optim_wrapper.backward(total)
    return losses


def stage1_state(model) -> dict:
    """Every parameter and buffer of backbone and decode head (GMM EM state included)."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()
            if k.startswith(('backbone.', 'decode_head.'))}


def assert_bitwise(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert not changed, f'stage-1 tensors changed: {changed[:10]}'


def inlier_outputs(model, inputs) -> tuple:
    model.eval()
    with torch.no_grad():
        out = model.predict(inputs, samples_for(inputs))
    model.train()
    return (torch.stack([o.seg_logits.data for o in out]),
            torch.stack([o.pred_sem_seg.data for o in out]))


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize('head, backbone', [('GMMHead', 'DINOv2'), ('LinearDecoderHead', 'DINOv2'),
                                            ('GMMHead', 'DINOv3')])
def test_stage1_step_grads_every_head_param_backbone_frozen(head, backbone):
    model = build(model_cfg(head, backbone=backbone))
    model.train()
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1))
    losses = grad_step(model, wrapper, train_batch())
    assert {'decode.loss_ce'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    for name, p in model.decode_head.named_parameters():
        assert p.grad is not None, f'no gradient for decode_head.{name}'
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    wrapper.step()
    assert_bitwise(backbone, model.backbone.state_dict())
    if head == 'GMMHead':  # the EM state moved in stage 1
        assert int(model.decode_head.classifier.num_steps) == 1


@pytest.mark.parametrize('variant, backbone', [(v, 'DINOv2') for v in VARIANTS]
                         + [('G-G', 'DINOv3')])
def test_stage2_step_freezes_stage1_and_trains_uem(variant, backbone, tmp_path):
    head, uem = VARIANTS[variant]
    # a stage-1 model trained for one step (GMM memory and means no longer at init)
    stage1 = build(model_cfg(head, backbone=backbone), seed=0)
    stage1.train()
    wrapper1 = OptimWrapper(torch.optim.AdamW(stage1.parameters(), lr=1e-2))
    stage1.train_step(train_batch(seed=3), wrapper1)
    ckpt = tmp_path / 'stage1.pth'
    torch.save({'state_dict': stage1.state_dict()}, ckpt)

    model = build(model_cfg(head, uem, stage=2, backbone=backbone, stage1_checkpoint=str(ckpt)),
                  seed=1)
    model.init_weights()
    probe = images()
    ref_logits, ref_pred = inlier_outputs(stage1, probe)
    logits, pred = inlier_outputs(model, probe)
    assert torch.equal(logits, ref_logits) and torch.equal(pred, ref_pred)

    model.train()  # the Runner's call: stage-1 modules must stay in eval mode
    assert not model.backbone.training and not model.decode_head.training
    assert model.auxiliary_head.training
    before = stage1_state(model)
    uem_before = {k: v.clone() for k, v in model.auxiliary_head.named_parameters()}
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1))
    losses = grad_step(model, wrapper, train_batch())
    expected = {'uem.loss_bce', 'uem.loss_ce'} | ({'uem.loss_contrast'} if uem == 'gmm' else set())
    assert set(losses) == expected
    assert all(torch.isfinite(v).all() for v in losses.values())
    for name, p in model.auxiliary_head.named_parameters():
        assert p.grad is not None, f'no gradient for auxiliary_head.{name}'
        assert torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert all(p.grad is None for m in (model.backbone, model.decode_head)
               for p in m.parameters())
    wrapper.step()
    wrapper.zero_grad()
    model.train_step(train_batch(seed=5), wrapper)  # a second step through train_step

    assert_bitwise(before, stage1_state(model))
    changed = [k for k, p in model.auxiliary_head.named_parameters()
               if not torch.equal(p, uem_before[k])]
    assert changed == list(uem_before)
    logits, pred = inlier_outputs(model, probe)
    assert torch.equal(logits, ref_logits) and torch.equal(pred, ref_pred)
    model.eval()
    with torch.no_grad():
        out = model.predict(probe, samples_for(probe))
    assert all(torch.isfinite(o.pred_anomaly_score.data).all() for o in out)


def test_stage_config_errors(tmp_path):
    with pytest.raises(ValueError, match='auxiliary_head'):
        build(model_cfg(stage=2))
    with pytest.raises(ValueError, match='stage must be 1 or 2'):
        build(model_cfg(stage=3))
    missing = tmp_path / 'nowhere' / 'stage1.pth'
    model = build(model_cfg(uem='linear', stage=2, stage1_checkpoint=str(missing)))
    with pytest.raises(FileNotFoundError, match=str(missing)):
        model.init_weights()
    model = build(model_cfg(uem='linear', stage=2))
    with pytest.raises(ValueError, match='stage1_checkpoint'):
        model.init_weights()
    # a checkpoint of another architecture: named keys, not a silent partial load
    other = build(model_cfg('LinearDecoderHead'))
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    model = build(model_cfg(uem='linear', stage=2, stage1_checkpoint=str(path)))
    with pytest.raises(CheckpointMismatchError, match='decode_head.classifier'):
        model.init_weights()
    # a truncated file: the error names it
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(path.read_bytes()[:200])
    model = build(model_cfg(uem='linear', stage=2, stage1_checkpoint=str(broken)))
    with pytest.raises(ValueError, match='stage-1 checkpoint .*broken.pth is truncated'):
        model.init_weights()


# ---------------------------------------------------------------------------- inference
@pytest.mark.parametrize('size,crop,stride', [(61, 28, 14), (97, 42, 28), (42, 28, 14),
                                              (20, 28, 14), (28, 28, 5), (1, 3, 1)])
def test_window_grid_covers_every_pixel(size, crop, stride):
    spans = window_grid(size, crop, stride)
    covered = torch.zeros(size, dtype=torch.long)
    for start, end in spans:
        assert 0 <= start < end <= size and end - start == min(crop, size)
        covered[start:end] += 1
    assert (covered > 0).all()
    assert spans[-1][1] == size and spans[0][0] == 0


def test_window_grid_matches_mmseg_and_rejects_gaps():
    # mmseg's loop: y1 = i*s, y2 = min(y1 + c, H), y1 = max(y2 - c, 0)
    for size, crop, stride in [(70, 28, 14), (61, 28, 14), (1024, 518, 140), (2048, 1036, 140)]:
        n = max(size - crop + stride - 1, 0) // stride + 1
        ref = [(max(min(i * stride + crop, size) - crop, 0), min(i * stride + crop, size))
               for i in range(n)]
        assert window_grid(size, crop, stride) == ref
    assert (70 - 28) % 14 == 0 and window_grid(70, 28, 14)[-1] == (42, 70)
    with pytest.raises(ValueError, match='stride <= crop'):
        window_grid(100, 28, 40)
    with pytest.raises(ValueError):
        window_grid(100, 28, 0)


def slide_model(uem='linear', batch_windows=8, head='GMMHead', **test_cfg):
    cfg = model_cfg(head, uem, stage=2, test_cfg=dict(
        mode='slide', crop_size=(28, 42), stride=(14, 28), batch_windows=batch_windows,
        **test_cfg))
    model = build(cfg, seed=2)
    model.eval()
    return model


# D-D: fp32 differences are GEMM blocking only. G-G: the GMM head's LayerNorm over classes
# divides by the spread of the K class maxima (down to ~0.02 at init), which amplifies the
# ~2e-6 batch-size-dependent rounding of the decoder to ~1e-4: same maps, worse conditioning.
# batch_windows=3 makes chunks that straddle two images and a short last chunk
@pytest.mark.parametrize('variant,tol,batch,height,width', [
    ('D-D', 1e-5, 2, 61, 97), ('D-D', 1e-5, 1, 70, 98), ('D-D', 1e-5, 2, 20, 30),
    ('G-G', 1e-3, 1, 61, 97)])
def test_batched_slide_equals_loop_and_mmseg_stock(variant, tol, batch, height, width):
    head, uem = VARIANTS[variant]
    model = slide_model(uem, head=head, batch_windows=3)
    inputs = images(batch=batch, height=height, width=width)
    metas = [s.metainfo for s in samples_for(inputs)]
    with torch.no_grad():
        batched = model.slide_inference(inputs, metas)
        model.test_cfg.batch_windows = 1
        loop = model.slide_inference(inputs, metas)
        stock = EncoderDecoder.slide_inference(model, inputs, copy.deepcopy(metas))
    assert batched.shape == (batch, CLASSES + 2, height, width)
    assert torch.isfinite(batched).all()
    maps = {}
    for name, logits in (('batched', batched), ('loop', loop), ('stock', stock)):
        f, o = logits[:, :CLASSES], logits[:, CLASSES:]
        maps[name] = o[:, 1] - o[:, 0] - f.amax(1)  # the LLR map
        assert (logits - batched).abs().max() < tol, name
    assert (maps['batched'] - maps['loop']).abs().max() < tol
    assert (maps['batched'] - maps['stock']).abs().max() < tol
    if height < 28 and width < 42:  # one window: the whole image
        with torch.no_grad():
            whole = model.whole_inference(inputs, metas)
        assert (batched - whole).abs().max() < tol


def test_encode_decode_crops_the_backbone_padding():
    """DINOv2 zero-pads to multiples of 14: the maps must line up with the unpadded image."""
    model = slide_model()
    inputs = images(batch=1, height=61, width=97)
    padded = F.pad(inputs, (0, 98 - 97, 0, 70 - 61))
    with torch.no_grad():
        out = model.encode_decode(inputs, [])
        ref = model.encode_decode(padded, [])[:, :, :61, :97]
    assert out.shape == (1, CLASSES + 2, 61, 97)
    assert (out - ref).abs().max() < 1e-5


def reference_maps(model, inputs, meta, *, mode='slide') -> tuple:
    """F, O at ori_shape: un-pad, un-flip, resize by hand (independent of postprocess)."""
    with torch.no_grad():
        logits = (model.slide_inference if mode == 'slide' else model.whole_inference)(
            inputs, [meta] * inputs.shape[0])
    left, right, top, bottom = meta['padding_size']
    height, width = logits.shape[2:]
    logits = logits[:, :, top:height - bottom, left:width - right]
    if meta.get('flip'):
        logits = logits.flip(-1)
    logits = F.interpolate(logits, size=meta['ori_shape'], mode='bilinear', align_corners=False)
    return logits[:, :CLASSES], logits[:, CLASSES:]


@pytest.mark.parametrize('mode', ['slide', 'whole'])
def test_predict_padding_resize_and_flip(mode):
    model = slide_model()
    model.test_cfg.mode = mode
    img = images(batch=1, height=61, width=97)
    inputs = F.pad(img, (0, 1, 0, 9))  # preprocessor-style bottom/right padding to 70x98
    meta = dict(ori_shape=(122, 194), img_shape=(61, 97), pad_shape=(70, 98),
                padding_size=[0, 1, 0, 9])
    with torch.no_grad():
        out = model.predict(inputs, samples_for(inputs, **meta))[0]
    inlier, uem = reference_maps(model, inputs, meta, mode=mode)
    llr = uem[:, 1] - uem[:, 0] - inlier.amax(1)
    assert out.pred_anomaly_score.data.shape == (1, 122, 194)
    assert out.pred_anomaly_score.data.dtype == torch.float32
    assert out.seg_logits.data.shape == (CLASSES, 122, 194)
    assert out.pred_sem_seg.data.shape == (1, 122, 194)
    assert (out.pred_anomaly_score.data - llr).abs().max() < 1e-5
    assert torch.equal(out.pred_sem_seg.data, out.seg_logits.data.argmax(0, keepdim=True))
    # the same input flagged as a horizontally flipped view gives the flipped maps
    with torch.no_grad():
        flipped = model.predict(inputs, samples_for(inputs, **meta, flip=True,
                                                    flip_direction='horizontal'))[0]
    for field in ('pred_anomaly_score', 'seg_logits'):
        a, b = getattr(flipped, field).data, getattr(out, field).data.flip(-1)
        assert (a - b).abs().max() < 1e-5, field


def test_predict_without_data_samples_and_small_image():
    model = slide_model()
    inputs = images(batch=2, height=20, width=30)  # smaller than the 28x42 window
    with torch.no_grad():
        out = model.predict(inputs)
    assert len(out) == 2
    assert all(o.pred_anomaly_score.data.shape == (1, 20, 30) for o in out)
    with torch.no_grad():
        raw = model._forward(inputs)
    assert raw.shape == (2, CLASSES + 2, 20, 30)


@pytest.mark.parametrize('score', ['LLR', 'ID', 'OoD', 'O1', 'MSP', 'MaxLogit', 'Energy',
                                   'RbA'])
def test_score_modes_match_their_formula(score):
    model = slide_model(score=score)
    model.test_cfg.mode = 'whole'
    inputs = images(batch=2, height=42, width=56)
    meta = dict(ori_shape=(50, 60), img_shape=(42, 56), pad_shape=(42, 56),
                padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        out = model.predict(inputs, samples_for(inputs, **meta))
        logits = model.encode_decode(inputs, [])
    logits = F.interpolate(logits.double(), size=(50, 60), mode='bilinear', align_corners=False)
    f, o = logits[:, :CLASSES], logits[:, CLASSES:]
    expected = {
        'LLR': o[:, 1] - o[:, 0] - f.max(1).values,
        'ID': -f.max(1).values,
        'OoD': o[:, 1] - o[:, 0],
        'O1': o[:, 1],
        'MSP': -(f.exp() / f.exp().sum(1, keepdim=True)).max(1).values,
        'MaxLogit': -f.max(1).values,
        'Energy': -f.exp().sum(1).log(),
        'RbA': -f.tanh().sum(1),
    }[score]
    got = torch.stack([s.pred_anomaly_score.data[0] for s in out]).double()
    assert (got - expected).abs().max() < 1e-5


def test_rba_on_a_gmm_head_warns_that_it_assumes_logits():
    with pytest.warns(UserWarning, match='RbA assumes the logits of a linear'):
        slide_model(score='RbA')
    for kwargs in (dict(score='RbA', head='LinearDecoderHead'), dict(score='MSP')):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            slide_model(**kwargs)
        assert not [w for w in caught if 'RbA' in str(w.message)], kwargs


def test_score_errors():
    with pytest.raises(ValueError, match='needs the UEM'):
        build(model_cfg(test_cfg=dict(mode='whole', score='LLR')))
    with pytest.raises(ValueError, match='needs the UEM'):
        build(model_cfg(test_cfg=dict(mode='whole', score='OoD')))
    with pytest.raises(ValueError, match='unknown test_cfg.score'):
        build(model_cfg(test_cfg=dict(mode='whole', score='Entropy')))
    model = build(model_cfg())  # stage 1 defaults to ID
    assert model.score == 'ID' and model.out_channels == CLASSES
    model.test_cfg.score = 'LLR'  # changed after building: refused at prediction time
    model.eval()
    inputs = images(batch=1)
    with pytest.raises(ValueError, match='needs the UEM'):
        model.predict(inputs, samples_for(inputs))
    with pytest.raises(ValueError, match='batch_windows'):
        slide_model(batch_windows=0).slide_inference(inputs, [{}])


def test_training_inputs_must_cover_whole_patches():
    model = build(model_cfg())
    model.train()
    data = model.data_preprocessor(train_batch(height=42, width=56), True)
    imgs = data['inputs'][:, :, :41]  # 41 rows: not a multiple of 14
    with pytest.raises(ValueError, match='multiples of the backbone patch size 14'):
        model.loss(imgs, data['data_samples'])


def test_unknown_test_cfg_train_cfg_and_head_keys_are_errors_naming_the_valid_ones():
    """A misspelt key (``--cfg-options model.test_cfg.scor=ID``) would be carried along
    unread and the run would report the default score's numbers under the user's label."""
    cfg = model_cfg('GMMHead', 'linear', stage=2)
    cfg['test_cfg'] = dict(mode='whole', scor='ID')
    with pytest.raises(ValueError, match=r"model\.test_cfg: unknown key 'scor' \(did you mean "
                       r"'score'\?\); valid keys: batch_windows, crop_size, mode, score, "
                       r"stride$"):
        build(cfg)
    cfg = model_cfg('GMMHead', train_cfg=dict(check_value=False))
    with pytest.raises(ValueError, match=r"model\.train_cfg: unknown key 'check_value' \(did "
                       r"you mean 'check_values'\?\); valid keys: check_values$"):
        build(cfg)
    cfg = model_cfg('GMMHead')
    cfg['decode_head']['num_class'] = 3
    with pytest.raises(ValueError, match=r"model\.decode_head \(GMMHead\): unknown key "
                       r"'num_class' \(did you mean 'num_classes'\?\); valid keys: .*gmm_cfg"):
        build(cfg)
    # the valid keys still build, with the score they name
    cfg = model_cfg('GMMHead', 'linear', stage=2)
    cfg['test_cfg'] = dict(mode='whole', score='ID', batch_windows=2)
    assert build(cfg).score == 'ID'


def test_predictions_name_their_score():
    """``pred_anomaly_score`` carries the score mode in its metainfo, so every output made
    from a prediction (table, picture, maps) can name it."""
    from mmseg_uem.utils.samples import score_mode_of

    model = build(model_cfg('GMMHead', 'linear', stage=2)).eval()
    for score in ('LLR', 'ID'):
        model.test_cfg.score = score
        inputs = torch.rand(1, 3, 28, 42) * 255
        sample = SegDataSample(metainfo=dict(img_shape=(28, 42), ori_shape=(28, 42)))
        with torch.no_grad():
            out = model.predict(inputs, [sample])[0]
        assert score_mode_of(out) == score == out.pred_anomaly_score.metainfo['score_mode']
        assert score_mode_of(out.to_dict()) == score
