"""Host-device synchronisations of a training step, found on the CPU with ``SyncAudit``.

A GPU training step must not make the host wait for the device in the middle of the
forward or backward pass (``.item()``, boolean-mask indexing, ``nonzero``, ``bincount``,
``tolist``...). ``SyncAudit`` intercepts those operations at the dispatcher, so the test
runs here without a GPU. The one sync we keep by design is the read-back of the heads'
label and non-finite checks at the end of the forward pass (``deferred_checks``);
``train_cfg=dict(check_values=False)`` removes it too. The optimizer step is outside the
audit: on the CPU torch's AdamW reads its step counters with ``.item()``, which on a GPU
are host tensors (no sync).
"""
import pytest
import torch
from mmseg.registry import MODELS

import mmseg_uem  # noqa: F401  (registers the modules)
from mmseg_uem.benchmark.sections import train_step_fn
from mmseg_uem.benchmark.syncs import SyncAudit, find_syncs
from mmseg_uem.models.utils import checks
from mmseg_uem.testing.batches import synthetic_batch
from mmseg_uem.testing.models import segmentor_cfg

ARCH = dict(embed_dims=32, num_layers=4, num_heads=2)
SIZES = dict(arch=ARCH, out_indices=(0, 1, 2, 3), channels=16, num_classes=4, memory_size=24,
             mlp_channels=(16, 8))
CHECKS_SITE = f'{checks.__file__}:'


# ------------------------------------------------------------------- the auditor itself
def test_audit_finds_each_kind_of_sync_with_its_line():
    x = torch.arange(6.0)
    with SyncAudit() as audit:
        y = x * 2 + 1  # no sync
        torch.sort(y, stable=True)
        float(y.sum())
        bool((y > 3).any())
        y[y > 3]
        torch.nonzero(y)
        torch.bincount(x.long())
        torch.unique(x)
        y.tolist()
        y.masked_select(y > 2)
        y[torch.tensor([0, 2])] = 0.0  # long index: no sync
        y[y > 100] = 1.0
    ops = sorted(site.split(': ', 1)[1] for site in audit.found)
    assert ops == sorted([
        'aten::_local_scalar_dense', 'aten::_local_scalar_dense',
        'aten::index with a boolean mask', 'aten::nonzero', 'aten::bincount',
        'aten::_unique2', 'Tensor.tolist()', 'aten::masked_select',
        'aten::index_put_ with a boolean mask'])
    assert all(site.startswith(f'{__file__}:') for site in audit.found)
    assert torch.Tensor.tolist is not None and 'wrapped' not in repr(torch.Tensor.tolist)


# ------------------------------------------------------------------ a training step
def _model(variant, check_values=True):
    cfg = segmentor_cfg(variant, **SIZES)
    cfg['train_cfg'] = dict(check_values=check_values)
    if variant.startswith('G'):
        cfg['decode_head']['gmm_cfg']['update_interval'] = 1  # EM on every (audited) step
    if variant.endswith('-G'):
        cfg['auxiliary_head']['gmm_cfg']['update_interval'] = 1
    torch.manual_seed(0)
    return MODELS.build(cfg).train()


def _audited_step(model, imgs, samples):
    """Syncs of the forward and backward of one step after a warm-up step (lazy
    initialisation is not the hot path): the benchmark's CPU scan."""
    return find_syncs(train_step_fn(model, imgs, samples, 'fp32'), imgs.device)


@pytest.mark.parametrize('variant', ['G', 'D', 'G-G', 'G-D', 'D-D'])
def test_training_step_synchronises_only_to_read_the_checks(variant):
    imgs, samples = synthetic_batch(2, (28, 56), num_classes=4, device=torch.device('cpu'))
    found = _audited_step(_model(variant), imgs, samples)
    assert list(found.values()) == [1], found
    (site, ) = found
    assert site.startswith(CHECKS_SITE) and 'deferred_checks' in site, found


@pytest.mark.parametrize('variant', ['G', 'G-G', 'D-D'])
def test_training_step_without_value_checks_never_synchronises(variant):
    imgs, samples = synthetic_batch(2, (28, 56), num_classes=4, device=torch.device('cpu'))
    found = _audited_step(_model(variant, check_values=False), imgs, samples)
    assert not found, found


@pytest.mark.parametrize('variant', ['G', 'D-D'])
def test_deferred_checks_give_the_same_step_as_immediate_ones(variant):
    """The segmentor defers the checks and the EM update to the end of the forward pass;
    losses, gradients and EM state equal those of the heads checking at once."""
    imgs, samples = synthetic_batch(2, (28, 56), num_classes=4, device=torch.device('cpu'))
    deferred, immediate = _model(variant), _model(variant)
    immediate.load_state_dict(deferred.state_dict())
    out = {}
    for name, model in (('deferred', deferred), ('immediate', immediate)):
        if name == 'immediate':  # bypass UEMEncoderDecoder.loss's scope
            x = model.extract_feat(imgs)
            if model.stage == 1:
                losses = model._decode_head_forward_train(x, samples)
            else:
                losses = model._auxiliary_head_forward_train(x, samples)
        else:
            losses = model.loss(imgs, samples)
        model.parse_losses(losses)[0].backward()
        out[name] = (losses, model)
    (l_def, m_def), (l_imm, m_imm) = out['deferred'], out['immediate']
    assert l_def.keys() == l_imm.keys()
    for key in l_def:
        assert torch.equal(l_def[key], l_imm[key]), key
    for (name, p), (_, q) in zip(m_def.named_parameters(), m_imm.named_parameters()):
        assert (p.grad is None) == (q.grad is None), name
        if p.grad is not None:
            assert torch.equal(p.grad, q.grad), name
    for (name, b), (_, c) in zip(m_def.named_buffers(), m_imm.named_buffers()):
        assert torch.equal(b, c), name


def test_failed_check_skips_the_queued_state_updates():
    ran = []
    with pytest.raises(RuntimeError, match='x: 1 NaN and 0 inf values at this step'):
        with checks.deferred_checks():
            checks.check_finite(torch.tensor([1.0, float('nan')]), what='x')
            checks.after_checks(lambda: ran.append(1))
            assert not ran  # queued, not run
    assert not ran
    with checks.deferred_checks():
        checks.check_finite(torch.ones(2), what='x')
        checks.after_checks(lambda: ran.append(2))
    assert ran == [2]
    with checks.deferred_checks(enabled=False):  # checks skipped, actions still run
        checks.check_finite(torch.tensor([float('inf')]), what='x')
        checks.after_checks(lambda: ran.append(3))
    assert ran == [2, 3]
    checks.after_checks(lambda: ran.append(4))  # outside any scope: at once
    assert ran == [2, 3, 4]
