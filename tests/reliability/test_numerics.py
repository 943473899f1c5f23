"""Numerical hazards.

- NaN / inf in the features during training stops the run with an error naming the
  iteration, before the optimizer step and before any EM update: the model in memory
  (weights, GMM memories, pointers, counters, BatchNorm running statistics) equals the last
  checkpoint, and no
  checkpoint is written for the failed iteration. Through a real Runner, with the backbone
  output poisoned by a test hook (``PoisonBackboneHook``), for every head type.
- Mixed precision: under ``torch.autocast`` (bf16, fp16) every Gaussian log-likelihood,
  Sinkhorn and EM function the GMM heads call receives and returns float32 and gives
  bitwise the result of a call with autocast off (spies on the functions).
"""
import functools
import inspect

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmseg.registry import MODELS
from rel_utils import (
    checkpoint_iters,
    make_data,
    make_stage1_checkpoint,
    write_config,
)

import mmseg_uem.models.decode_heads.gmm_classifier as gmm_classifier_module
from mmseg_uem.models.utils import gmm as gmm_utils
from mmseg_uem.models.utils import sinkhorn as sinkhorn_utils
from mmseg_uem.testing.batches import label_samples

POISONED = 3  # the 1-based iteration whose backbone output holds NaN / inf

VARIANTS = {
    # name: (write_config kwargs, error pattern)
    'G stage 1, nan': (dict(), 'GMMHead class scores: '),
    'G stage 1, inf': (dict(value='inf'), 'GMMHead class scores: '),
    'D stage 1': (dict(head='LinearDecoderHead'), 'LinearDecoderHead logits: '),
    # BatchNorm updates its running statistics in the forward pass the check stops
    'G stage 1, BatchNorm': (dict(norm='BN'), 'GMMHead class scores: '),
    'G-G stage 2': (dict(stage=2), 'UEMHead LLR = O1 - O0 - max_k F_k: '),
    'D-D stage 2': (dict(stage=2, head='LinearDecoderHead', uem='linear'),
                    'UEMHead LLR = O1 - O0 - max_k F_k: '),
}


pytestmark = pytest.mark.usefixtures('fast_runner')  # Runners built in this process


@pytest.mark.slow
@pytest.mark.parametrize('variant', list(VARIANTS))
def test_non_finite_features_stop_training_naming_the_iteration(tmp_path, variant):
    kwargs, pattern = VARIANTS[variant]
    kwargs = dict(kwargs)
    value = kwargs.pop('value', 'nan')
    stage = kwargs.get('stage', 1)
    data = make_data(tmp_path / 'data', num_train=2, coco=stage == 2)
    if stage == 2:
        stage1_cfg = write_config(tmp_path / 's1.py', data, head=kwargs.get('head', 'GMMHead'))
        kwargs['stage1'] = str(make_stage1_checkpoint(stage1_cfg, tmp_path / 'stage1.pth'))
    hook = dict(type='PoisonBackboneHook', iteration=POISONED, value=value)
    name = 'poison_' + ''.join(c for c in variant if c.isalnum())  # unique Runner name
    cfg = Config.fromfile(str(write_config(
        tmp_path / f'{name}.py', data, max_iters=5, ckpt_interval=1, test_hooks=True,
        custom_hooks=[hook], **kwargs)))
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    count = r'\d+ NaN and \d+ inf'  # one inf becomes NaN in the first norm (inf - inf)
    with pytest.raises(RuntimeError, match=f'{pattern}{count} values at training iteration '
                                           f'{POISONED}; stopped before the optimizer step'):
        runner.train()
    assert checkpoint_iters(tmp_path / 'work') == list(range(1, POISONED))
    last = torch.load(tmp_path / 'work' / f'iter_{POISONED - 1}.pth', map_location='cpu',
                      weights_only=True)['state_dict']
    now = runner.model.state_dict()
    assert last.keys() == now.keys()
    for key, saved in last.items():  # weights and EM buffers: untouched by the failed step
        assert torch.equal(saved, now[key]), key
        if saved.is_floating_point():
            assert torch.isfinite(saved).all(), key


# ------------------------------------------------------------------- mixed precision

def _spy_numerics(monkeypatch, calls):
    """Wrap every function of models/utils/{gmm,sinkhorn}.py that gmm_classifier.py calls."""
    for name, fn in vars(gmm_classifier_module).items():
        if not inspect.isfunction(fn) or fn.__module__ not in (gmm_utils.__name__,
                                                               sinkhorn_utils.__name__):
            continue

        def spy(*args, __fn=fn, __name=name, **kwargs):
            clones = [a.clone() if torch.is_tensor(a) else a for a in args]
            autocast_on = torch.is_autocast_enabled('cpu')
            out = __fn(*args, **kwargs)
            with torch.autocast('cpu', enabled=False):
                ref = __fn(*clones, **kwargs)
            outs = out if isinstance(out, tuple) else (out, )
            refs = ref if isinstance(ref, tuple) else (ref, )
            calls.append(dict(
                name=__name, autocast=autocast_on,
                inputs=[a.dtype for a in args if torch.is_tensor(a) and a.is_floating_point()],
                outputs=[o.dtype for o in outs if torch.is_tensor(o) and o.is_floating_point()],
                same=all(torch.equal(o, r) for o, r in zip(outs, refs) if torch.is_tensor(o))))
            return out

        monkeypatch.setattr(gmm_classifier_module, name, functools.wraps(fn)(spy))




@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_never_reaches_gaussian_sinkhorn_or_em(monkeypatch, dtype):
    """(The module's autouse fixture also runs this on one thread.)"""
    torch.manual_seed(0)
    calls = []
    _spy_numerics(monkeypatch, calls)
    gmm = dict(num_components=2, memory_size=8, max_sample_per_component=3, update_interval=1)
    inlier = MODELS.build(dict(type='GMMHead', in_channels=[32] * 4, channels=32,
                               final_mlp_channels=None, num_classes=3, gmm_cfg=gmm)).train()
    uem = MODELS.build(dict(type='UEMHead', in_channels=32, mlp_channels=(16, 16),
                            classifier='gmm', num_inlier_classes=3, gmm_cfg=gmm)).train()
    feats = [torch.randn(2, 32, 3, 4) for _ in range(4)]
    labels = torch.randint(0, 3, (2, 12, 16))
    labels[:, :4] = 254  # pasted outliers: the UEM's class 1
    with torch.autocast('cpu', dtype=dtype):
        feats_lp = [f.to(dtype) for f in feats]
        losses = inlier.loss(feats_lp, label_samples(labels))
        losses.update(uem.loss_by_uem(feats_lp, inlier.forward(feats_lp), label_samples(labels)))
    assert all(torch.isfinite(v) for v in losses.values())
    called = {c['name'] for c in calls}
    assert {'diagonal_gaussian_log_prob', 'em_update'} <= called
    assert any('sinkhorn' in n for n in called)
    for call in calls:
        assert set(call['inputs']) <= {torch.float32}, call
        assert set(call['outputs']) <= {torch.float32}, call
        assert call['same'], call  # autocast, if on at the call site, changes nothing
