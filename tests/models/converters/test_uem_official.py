"""Official UEM checkpoints -> our models: layout, safe reading, parity, stage-1 hand-over.

The official files are built by ``mmseg_uem.testing.official_uem`` in the official key
layout and Lightning container, with an attribute-dict config defined here (so the files
need the restricted unpickler). The reference forward below recomputes the official
model from the *source* tensors with torch.nn.functional (and torch.distributions for the
Gaussians, in float64); only the ViT, whose keys the converter leaves unchanged, is our
DINOv2 loaded straight from the source keys.
"""
import copy
import os.path as osp
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.models.backbones.dinov2 import DINOv2
from mmseg_uem.models.converters import (
    VARIANTS,
    convert_uem_official_checkpoint,
    convert_uem_official_state_dict,
    detect_variant,
)
from mmseg_uem.models.converters.uem_official import ConversionError
from mmseg_uem.testing.official_uem import lightning_checkpoint, official_uem_state_dict
from mmseg_uem.utils.checkpoint import CheckpointMismatchError, CheckpointReadError

torch.set_num_threads(2)
init_default_scope('mmseg')
ROOT = Path(__file__).resolve().parents[3]
DIMS, CHANNELS, CLASSES, COMPONENTS, SLOTS, PROJ = 32, 16, 3, 2, 6, (24, 24, 16)
MLP_HIDDEN = 512  # DINOv2FPN.dino_mlp's hidden width, fixed in the official code
# the official file of each variant, at test widths: published layout, 4 ViT blocks
SIZES = dict(vit_dims=DIMS, vit_layers=4, decoder_channels=CHANNELS, num_classes=CLASSES,
             num_components=COMPONENTS, memory_size=SLOTS, projector=PROJ)
PAPER_BASES = {'G': 'dinov2_g', 'D': 'dinov2_d', 'G-G': 'dinov2_gg', 'G-D': 'dinov2_gd',
               'D-D': 'dinov2_dd'}


class AttrConfig(dict):
    """An EasyDict-like attribute dict (attributes mirror items), as the official configs."""

    def __init__(self, d=None, **kwargs):
        super().__init__()
        for key, value in dict(d or {}, **kwargs).items():
            setattr(self, key, value)

    def __setattr__(self, name, value):
        if isinstance(value, dict) and not isinstance(value, AttrConfig):
            value = AttrConfig(value)
        super().__setattr__(name, value)
        super().__setitem__(name, value)

    __setitem__ = __setattr__


def official_config(variant: str) -> AttrConfig:
    return AttrConfig(MODEL=dict(BACKBONE=dict(NAME='DINOv2', VERSION='dinov2_vitb14_reg',
                                               INTERM_FEATURES=[1, 4, 8, 11])),
                      SOLVER=dict(LR=5e-4, EVAL_WINDOW_SIZE=[518, 1036]), VARIANT=variant)


def write_official(tmp_path, variant: str, *, seed: int = 0, state=None) -> str:
    state = official_uem_state_dict(variant, seed=seed, **SIZES) if state is None else state
    path = str(tmp_path / f'{variant.lower()}-{seed}.ckpt')
    torch.save(lightning_checkpoint(state, hyper_parameters=dict(
        config=official_config(variant))), path)
    return path


def paper_model_cfg(variant: str) -> dict:
    """The paper config's model at test widths (norms, heads, scores as in the paper)."""
    model = Config.fromfile(ROOT / f'configs/_base_/models/{PAPER_BASES[variant]}.py').model
    model = copy.deepcopy(model.to_dict())
    model['backbone'].update(arch=dict(embed_dims=DIMS, num_layers=4, num_heads=2,
                                       num_register_tokens=4),
                             out_indices=[0, 1, 2, 3], img_size=56, init_cfg=None)
    head = model['decode_head']
    head.update(in_channels=[DIMS] * 4, channels=CHANNELS, num_classes=CLASSES,
                final_mlp_channels=MLP_HIDDEN)
    gmm = dict(num_components=COMPONENTS, memory_size=SLOTS, max_sample_per_component=2)
    if head['type'] == 'GMMHead':  # GMM settings flat or in gmm_cfg, as the UEM head
        (head['gmm_cfg'] if 'gmm_cfg' in head else head).update(gmm)
    if 'auxiliary_head' in model:
        uem = model['auxiliary_head']
        uem.update(in_channels=DIMS, mlp_channels=PROJ, num_inlier_classes=CLASSES)
        if uem['classifier'] == 'gmm':
            uem['gmm_cfg'].update(gmm)
        model['stage1_checkpoint'] = None
    return model


def build_converted(variant: str, state: dict):
    model = MODELS.build(paper_model_cfg(variant))
    model.load_state_dict(state, strict=True)  # every key, every shape
    return model.eval()


# ------------------------------------------------------------------- reference forward
def _vit_maps(src: dict, prefix: str, x: torch.Tensor):
    vit = DINOv2(dict(embed_dims=DIMS, num_layers=4, num_heads=2, num_register_tokens=4),
                 out_indices=[0, 1, 2, 3], img_size=56)
    vit.load_state_dict({k[len(prefix):]: v for k, v in src.items() if k.startswith(prefix)})
    return vit.eval()(x)


def _fpn(p: dict, maps):
    """Official DINOv2FPN.get_output_features (eval BN) from its own tensors ``p``."""
    def gn(x, name):
        return F.group_norm(x, 1, p[f'{name}.weight'], p[f'{name}.bias'])

    def bn(x, name):
        return F.batch_norm(x, p[f'{name}.running_mean'], p[f'{name}.running_var'],
                            p[f'{name}.weight'], p[f'{name}.bias'], training=False)

    def lin(x, name):
        return F.linear(x, p[f'{name}.weight'], p[f'{name}.bias'])

    x0 = F.conv_transpose2d(gn(maps[0], 'fpn1.0'), p['fpn1.1.weight'], p['fpn1.1.bias'], 2)
    x0 = F.conv_transpose2d(F.gelu(bn(x0, 'fpn1.2')), p['fpn1.4.weight'], p['fpn1.4.bias'], 2)
    x1 = F.conv_transpose2d(gn(maps[1], 'fpn2.0'), p['fpn2.1.weight'], p['fpn2.1.bias'], 2)
    batch, _, h, w = maps[3].shape
    tokens = maps[3].flatten(2).transpose(1, 2)  # final normed patch tokens (B, N, V)
    mlp = lin(F.relu(lin(tokens, 'dino_mlp._layers.0')), 'dino_mlp._layers.2')
    x2 = torch.cat([gn(maps[2], 'fpn3'), mlp.transpose(1, 2).reshape(batch, -1, h, w)], 1)
    x3 = F.max_pool2d(gn(maps[3], 'fpn4.0'), 2, 2)
    lat = [F.conv2d(x, p[f'lateral_convs.{i}.weight'], p[f'lateral_convs.{i}.bias'])
           for i, x in enumerate((x0, x1, x2, x3))]
    for i in (3, 2, 1):
        lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[2:])
    outs = [F.conv2d(x, p[f'fpn_convs.{i}.weight'], p[f'fpn_convs.{i}.bias'], padding=1)
            for i, x in enumerate(lat)]

    def head(level, x):
        for block in range(max(level, 1)):
            x = F.conv2d(x, p[f'heads.{level}.{4 * block}.weight'], padding=1)
            x = F.relu(bn(x, f'heads.{level}.{4 * block + 1}'))
            if level:
                x = F.interpolate(x, size=[2 * s for s in x.shape[2:]], mode='bilinear',
                                  align_corners=False)
        return x

    out = head(0, outs[0])
    for level in (1, 2, 3):
        out = out + F.interpolate(head(level, outs[level]), size=out.shape[2:],
                                  mode='bilinear', align_corners=True)
    return out


def _gmm_scores(p: dict, feats: torch.Tensor) -> torch.Tensor:
    """Official GMMSegHead.forward in float64: LayerNorm + L2 of the pixels, unit means,
    max over components of log N (torch.distributions), LayerNorm over classes."""
    batch, dims, h, w = feats.shape
    x = feats.double().permute(0, 2, 3, 1).reshape(-1, dims)
    x = F.normalize(F.layer_norm(x, (dims, ), p['feat_norm.weight'].double(),
                                 p['feat_norm.bias'].double()), dim=-1)
    means = F.normalize(p['means'].double(), dim=-1)
    classes, comps, _ = means.shape
    normal = torch.distributions.Normal(means.reshape(-1, dims), p['diagonal'].double().reshape(
        -1, dims))
    log_prob = normal.log_prob(x[:, None, :]).sum(-1).view(-1, classes, comps)
    scores = F.layer_norm(log_prob.amax(-1), (classes, ), p['mask_norm.weight'].double(),
                          p['mask_norm.bias'].double())
    return scores.view(batch, h, w, classes).permute(0, 3, 1, 2).float()


def _linear_scores(p: dict, feats: torch.Tensor) -> torch.Tensor:
    return F.linear(feats.permute(0, 2, 3, 1), p['_head.weight'], p['_head.bias']).permute(
        0, 3, 1, 2)


def _sub(src: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in src.items() if k.startswith(prefix)}


def reference_window(src: dict, variant: str, x: torch.Tensor):
    """(F, O) of the official model on one window, upsampled to the window (bilinear)."""
    inlier, _, uem = variant.partition('-')
    seg = 'segmentor.' if uem else ''
    maps = _vit_maps(src, f'{seg}backbone.dinov2.', x)
    feats = _fpn(_sub(src, f'{seg}backbone.learnable_layers.'), maps)
    head = _sub(src, f'{seg}segmentation_head.')
    f = _gmm_scores(head, feats) if inlier == 'G' else _linear_scores(head, feats)
    size = x.shape[2:]
    f = F.interpolate(f, size=size, mode='bilinear', align_corners=False)
    if not uem:
        return f, None
    p = _sub(src, 'ood_projector._layers.')
    tokens = maps[3].permute(0, 2, 3, 1)
    z = F.linear(F.relu(F.linear(F.relu(F.linear(tokens, p['0.weight'], p['0.bias'])),
                                 p['2.weight'], p['2.bias'])), p['4.weight'], p['4.bias'])
    z = z.permute(0, 3, 1, 2)
    ood = _sub(src, 'ood_head.')
    o = _gmm_scores(ood, z) if uem == 'G' else _linear_scores(ood, z)
    return f, F.interpolate(o, size=size, mode='bilinear', align_corners=False)


def reference_slide(src, variant, x, window, stride):
    """The official sliding-window loop (OoDSegmentationModel.sliding_window_inference)."""
    (H, W), (wh, ww), (sh, sw) = x.shape[2:], window, stride
    rows = list(zip(range(0, H - wh, sh), range(wh, H, sh)))
    cols = list(zip(range(0, W - ww, sw), range(ww, W, sw)))
    if (H - wh) % sh:
        rows.append((H - wh, H))
    if (W - ww) % sw:
        cols.append((W - ww, W))
    f_sum = o_sum = count = 0
    for y0, y1 in rows:
        for x0, x1 in cols:
            f, o = reference_window(src, variant, x[:, :, y0:y1, x0:x1])
            pad = (x0, W - x1, y0, H - y1)
            f_sum = f_sum + F.pad(f, pad)
            o_sum = o_sum + F.pad(o, pad)
            count = count + F.pad(torch.ones(1, 1, y1 - y0, x1 - x0), pad)
    assert bool((count > 0).all()), 'the test sizes must leave no hole in the official loop'
    return f_sum / count, o_sum / count


def predict(model, x, score):
    model.test_cfg.score = score
    meta = dict(ori_shape=x.shape[2:], img_shape=x.shape[2:], pad_shape=x.shape[2:],
                padding_size=[0, 0, 0, 0])
    with torch.no_grad():
        out = model.predict(x, [SegDataSample(metainfo=meta) for _ in range(x.shape[0])])
    return (torch.stack([s.pred_anomaly_score.data for s in out]),
            torch.stack([s.seg_logits.data for s in out]))


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize('variant,tensors', [('G', 267), ('D', 259), ('G-G', 283),
                                             ('G-D', 275), ('D-D', 267)])
def test_published_layouts_convert_with_every_tensor_accounted_for(tmp_path, variant, tensors):
    # 12 blocks as published: the tensor counts of the published files
    full_depth = official_uem_state_dict(variant, **dict(SIZES, vit_layers=12))
    assert len(full_depth) == tensors
    assert detect_variant(full_depth) == variant
    path = write_official(tmp_path, variant)
    conv = convert_uem_official_checkpoint(path)
    source = official_uem_state_dict(variant, **SIZES)
    assert conv.variant == variant
    assert set(conv.mapping) | set(conv.checked) == set(source)
    assert not set(conv.mapping) & set(conv.checked)
    assert sorted(conv.checked) == sorted(k for k in source if k.endswith('eye_matrix'))
    assert sorted(conv.mapping.values()) == sorted(conv.state_dict)
    model = build_converted(variant, conv.state_dict)  # strict: all keys, right shapes
    assert set(model.state_dict()) == set(conv.state_dict)
    for key, target in conv.mapping.items():  # values carried over (up to the documented ops)
        ours, theirs = conv.state_dict[target], source[key]
        if key.endswith('means'):
            theirs = F.normalize(theirs, dim=-1)
        if key.endswith('queue'):
            theirs = theirs.view(*ours.shape[:2], *theirs.shape[1:]).transpose(2, 3)
        torch.testing.assert_close(ours.reshape(theirs.shape).to(theirs.dtype), theirs,
                                   rtol=0, atol=0, msg=key)


def test_gmm_memory_layout_by_hand():
    """queue row k*C + c, slot s, dim d -> memory[k, c, s, d]; pointers likewise."""
    source = official_uem_state_dict('G', **SIZES)
    queue, ptr = source['segmentation_head.queue'], source['segmentation_head.queue_ptr']
    conv = convert_uem_official_state_dict(source)
    memory = conv.state_dict['decode_head.classifier.memory']
    assert memory.shape == (CLASSES, COMPONENTS, SLOTS, CHANNELS)
    assert memory[2, 1, 5, 7] == queue[2 * COMPONENTS + 1, 7, 5]
    assert memory[1, 0, 3, 0] == queue[1 * COMPONENTS + 0, 0, 3]
    assert conv.state_dict['decode_head.classifier.memory_ptr'][2, 1] == ptr[5]
    assert conv.state_dict['decode_head.classifier.num_steps'].item() == 321
    assert conv.state_dict['decode_head.classifier.num_steps'].dtype == torch.long


@pytest.mark.parametrize('variant', ['G-G', 'G-D', 'D-D'])
def test_converted_maps_equal_the_official_forward(tmp_path, variant):
    conv = convert_uem_official_checkpoint(write_official(tmp_path, variant, seed=3))
    src = official_uem_state_dict(variant, seed=3, **SIZES)
    model = build_converted(variant, conv.state_dict)
    x = torch.randn(1, 3, 56, 84, generator=torch.Generator().manual_seed(5))
    # whole image, then windows 28 x 42 at stride 20 x 30 (3 x 3 windows: the official loop
    # covers every pixel at these sizes, so both loops visit the same windows)
    cases = [('whole', {}, reference_window(src, variant, x)),
             ('slide', dict(crop_size=(28, 42), stride=(20, 30)),
              reference_slide(src, variant, x, (28, 42), (20, 30)))]
    for mode, extra, (f_ref, o_ref) in cases:
        model.test_cfg = type(model.test_cfg)(dict(mode=mode, **extra))
        expected = {'LLR': o_ref[:, 1] - f_ref.amax(1) - o_ref[:, 0], 'ID': -f_ref.amax(1),
                    'O1': o_ref[:, 1], 'OoD': o_ref[:, 1] - o_ref[:, 0]}  # O1: public "OoD"
        for score, ref in expected.items():
            ours, logits = predict(model, x, score)
            torch.testing.assert_close(ours[:, 0], ref, rtol=1e-4, atol=1e-4,
                                       msg=f'{variant} {mode} {score}')
        torch.testing.assert_close(logits, f_ref, rtol=1e-4, atol=1e-4)


def test_converted_segmentor_is_a_stage1_checkpoint(tmp_path):
    from mmengine.optim import OptimWrapper

    conv = convert_uem_official_checkpoint(write_official(tmp_path, 'G', seed=1))
    stage1 = tmp_path / 'gmm-segmentor.pth'
    torch.save(dict(state_dict=conv.state_dict, meta=dict(uem_variant='G')), stage1)
    cfg = paper_model_cfg('G-D')
    cfg['stage1_checkpoint'] = str(stage1)
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.init_weights()  # loads backbone + decode head from the converted file
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in conv.state_dict.items():
        torch.testing.assert_close(before[key], value, rtol=0, atol=0, msg=key)
    # one stage-2 training step: the UEM moves, stage 1 (incl. BN statistics and the GMM
    # memory) stays bitwise as converted
    model.train()
    wrapper = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2))
    from mmengine.structures import PixelData
    g = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(56, 84), ori_shape=(56, 84)))
        label = torch.randint(0, CLASSES, (1, 56, 84), generator=g)
        label[:, 20:40, 30:60] = 254
        s.gt_sem_seg = PixelData(data=label)
        samples.append(s)
    batch = dict(inputs=[torch.randint(0, 256, (3, 56, 84), generator=g).float()
                         for _ in range(2)], data_samples=samples)
    losses = model.train_step(batch, wrapper)
    assert set(losses) >= {'uem.loss_bce'}
    after = model.state_dict()
    for key in conv.state_dict:
        torch.testing.assert_close(after[key], before[key], rtol=0, atol=0, msg=key)
    moved = [k for k in after if k.startswith('auxiliary_head.') and
             not torch.equal(after[k], before[k])]
    assert moved


# -------------------------------------------------------------------------- refusals
class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))  # would create the marker file


def test_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'ran'
    ckpt = lightning_checkpoint(official_uem_state_dict('D', **SIZES),
                                hyper_parameters=dict(config=_Payload(str(marker))))
    path = tmp_path / 'evil.ckpt'
    torch.save(ckpt, path)
    with pytest.raises(CheckpointReadError,
                       match=r'(?s)refused to load official UEM checkpoint .*evil'
                       r'\.ckpt.*refusing to call (io|builtins)\.open'):
        convert_uem_official_checkpoint(str(path))
    assert not marker.exists()
    # sanity: plain pickle would have run it
    pickle.loads(pickle.dumps(_Payload(str(marker)))).close()
    assert marker.exists()


def test_object_that_is_not_an_attribute_dict_is_refused(tmp_path):
    ckpt = lightning_checkpoint(official_uem_state_dict('D', **SIZES),
                                hyper_parameters=dict(module=torch.nn.ReLU()))
    path = tmp_path / 'module.ckpt'
    torch.save(ckpt, path)
    with pytest.raises(CheckpointReadError, match='ReLU.*not an attribute dict'):
        convert_uem_official_checkpoint(str(path))


def test_truncated_file_is_refused(tmp_path):
    path = Path(write_official(tmp_path, 'D-D'))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointReadError, match=f'{path.name} is truncated'):
        convert_uem_official_checkpoint(str(path))
    with pytest.raises(FileNotFoundError, match='missing.ckpt'):
        convert_uem_official_checkpoint(str(tmp_path / 'missing.ckpt'))


def test_wrong_variant_is_refused(tmp_path):
    path = write_official(tmp_path, 'D-D')
    with pytest.raises(ConversionError, match=r'd-d-0\.ckpt is a D-D checkpoint, not G-D'):
        convert_uem_official_checkpoint(path, variant='G-D')
    with pytest.raises(ValueError, match='variant must be'):
        convert_uem_official_checkpoint(path, variant='GG')
    assert convert_uem_official_checkpoint(path, variant='D-D').variant == 'D-D'


def test_mmseg_checkpoint_given_as_official_is_refused(tmp_path):
    conv = convert_uem_official_checkpoint(write_official(tmp_path, 'G-D'))
    path = tmp_path / 'converted.pth'
    torch.save(dict(meta=dict(uem_variant='G-D'), state_dict=conv.state_dict), path)
    with pytest.raises(ConversionError, match=r'(?s)converted\.pth is not a PyTorch Lightning '
                       r'checkpoint.*need no conversion'):
        convert_uem_official_checkpoint(str(path))
    # its state dict inside a Lightning container: named as ours, not official
    torch.save(lightning_checkpoint(conv.state_dict), path)
    with pytest.raises(ConversionError, match='already a checkpoint of this project'):
        convert_uem_official_checkpoint(str(path))


def test_unexpected_missing_and_misshaped_keys_are_listed(tmp_path):
    state = official_uem_state_dict('G-G', **SIZES)
    extra = dict(state, **{'ood_head.temperature': torch.ones(1)})
    with pytest.raises(ConversionError, match=r'(?s)x\.ckpt: keys of no official UEM module'
                       r'.*unexpected keys \(1\): ood_head\.temperature'):
        convert_uem_official_state_dict(extra, source='x.ckpt')
    for key in ('segmentor.backbone.learnable_layers.heads.3.9.running_var',
                'ood_projector._layers.2.bias', 'ood_head.queue_ptr'):
        short = {k: v for k, v in state.items() if k != key}
        with pytest.raises(ConversionError, match=rf'(?s)x\.ckpt.*missing keys \(1\): {key}'):
            convert_uem_official_state_dict(short, source='x.ckpt')
    bad = dict(state)
    bad['ood_head.queue'] = bad['ood_head.queue'][:, :, :-1].transpose(1, 2)
    with pytest.raises(ConversionError, match=r'x\.ckpt: ood_head\.queue .* do not fit'):
        convert_uem_official_state_dict(bad, source='x.ckpt')
    bad = dict(state)
    name = 'segmentor.backbone.dinov2.blocks.2.attn.qkv.weight'
    bad[name] = bad[name][:-3]
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)x\.ckpt \(segmentor\.backbone\.dinov2\.\*\).*'
                       r'blocks\.2\.attn\.qkv\.weight'):
        convert_uem_official_state_dict(bad, source='x.ckpt')
    bad = dict(state, **{'ood_head.eye_matrix': torch.full((PROJ[-1], ), 2.0)})
    with pytest.raises(ConversionError, match='eye_matrix must be ones'):
        convert_uem_official_state_dict(bad, source='x.ckpt')


def test_every_variant_name_is_detected():
    for variant in VARIANTS:
        assert detect_variant(official_uem_state_dict(variant, **SIZES)) == variant
    assert osp.isfile(ROOT / 'tools/model_converters/uem_official2mmseg.py')


@pytest.mark.parametrize('variant', ['G', 'G-G', 'D-D'])
def test_config_overrides_make_the_paper_config_take_the_file(variant):
    """A reduced file (32-dim 4-block ViT on a 4 x 4 grid, 3 classes, 2 components, memory
    6): the overrides the converter prints, under their real config keys, make the paper
    config's model load it strictly; the paper-size settings are not repeated."""
    from mmseg_uem.models.converters.uem_official_config import (
        config_overrides,
        format_overrides,
    )
    from mmseg_uem.utils.checkpoint import match_state_dict

    conversion = convert_uem_official_state_dict(official_uem_state_dict(variant))
    paper = {'G': 'dinov2_g_stage1_cityscapes.py', 'G-G': 'dinov2_gg_test-road-anomaly.py',
             'D-D': 'dinov2_dd_test-road-anomaly.py'}[variant]
    cfg = Config.fromfile(str(ROOT / 'configs' / 'uem' / paper))
    overrides = config_overrides(conversion.arch, variant, cfg.to_dict())
    assert overrides['model.backbone.arch'] == dict(
        _delete_=True, embed_dims=32, num_layers=4, num_heads=1, num_register_tokens=4,
        patch_size=14, mlp_ratio=4.0)
    assert overrides['model.backbone.img_size'] == 56
    if variant.startswith('G'):
        assert overrides['model.decode_head.gmm_cfg.memory_size'] == 6
        assert overrides['model.decode_head.gmm_cfg.num_components'] == 2
    if variant == 'G-G':
        assert overrides['model.auxiliary_head.gmm_cfg.memory_size'] == 6
    assert 'model.decode_head.final_mlp_channels' not in overrides  # the paper's already
    assert ' model.decode_head.num_classes=3' in format_overrides(overrides)
    cfg.merge_from_dict(overrides)
    cfg.model.backbone.init_cfg = None  # no pretrained DINOv2 file in a test
    init_default_scope('mmseg')
    model = MODELS.build(cfg.model)
    match_state_dict(model, conversion.state_dict, checkpoint='converted', target='the model')
    assert config_overrides(conversion.arch, variant, cfg.to_dict()) == {}  # nothing left
