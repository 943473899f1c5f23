"""Tests of GMMClassifier and GMMHead: scores, losses, EM state as buffers, memory update."""
import copy
import math
import os
import socket

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch.distributions import Independent, Normal

from mmseg_uem.models.decode_heads import GMMClassifier, GMMHead
from mmseg_uem.models.decode_heads.gmm_classifier import grid_labels
from mmseg_uem.models.utils.gmm import em_update
from mmseg_uem.testing.batches import label_samples

DIMS, CLASSES, COMPS = 32, 3, 2
EM_BUFFERS = ('means', 'stds', 'memory', 'memory_ptr', 'num_steps')


def _head(**kwargs):
    cfg = dict(type='GMMHead', in_channels=[DIMS] * 4, channels=32, num_classes=CLASSES,
               final_mlp_channels=16,
               gmm_cfg=dict(num_components=COMPS, memory_size=30, **kwargs.pop('gmm_cfg', {})))
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _inputs(batch=2, height=3, width=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, DIMS, height, width, generator=g) for _ in range(4)]




def _labels(batch=2, height=12, width=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, CLASSES, (batch, height, width), generator=g)
    lab[:, :2] = 255
    lab[:, -2:, :4] = 254
    return lab


def _em_state(head):
    return {k: getattr(head.classifier, k).clone() for k in EM_BUFFERS}


def _total(losses):
    return sum(v for k, v in losses.items() if k.startswith('loss'))


def test_forward_shape_and_scores_match_distributions():
    head = _head().eval()
    inputs = _inputs()
    scores = head(inputs)
    assert scores.shape == (2, CLASSES, 12, 16) and scores.dtype == torch.float32
    # recompute: LayerNorm over classes of the max component log-likelihood
    cls = head.classifier
    feats = head.decoder(inputs).permute(0, 2, 3, 1).reshape(-1, 32).double()
    norm = cls.embed_norm
    emb = F.normalize(F.layer_norm(feats, (32, ), norm.weight.double(), norm.bias.double()),
                      dim=-1)
    dist = Independent(Normal(cls.means.double().flatten(0, 1), cls.stds.double().flatten(0, 1)),
                       1)
    log_lik = dist.log_prob(emb[:, None]).view(-1, CLASSES, COMPS)
    expected = F.layer_norm(log_lik.amax(-1), (CLASSES, ))
    got = scores.permute(0, 2, 3, 1).reshape(-1, CLASSES).double()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_logsumexp_mode_is_equal_weight_mixture():
    head = _head(gmm_cfg=dict(score_mode='logsumexp')).eval()
    assert head.classifier.score_norm is None
    out = head._decode(_inputs())
    per_class = out.log_likelihoods.view(-1, CLASSES, COMPS)
    expected = torch.log(per_class.double().exp().mean(-1))
    got = out.scores.permute(0, 2, 3, 1).reshape(-1, CLASSES).double()
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-4)


def test_scores_float32_under_autocast():
    head = _head().eval()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        scores = head(_inputs())
    assert scores.dtype == torch.float32 and torch.isfinite(scores).all()


def test_bad_config_raises():
    with pytest.raises(ValueError, match='score_mode'):
        _head(gmm_cfg=dict(score_mode='max'))
    with pytest.raises(ValueError, match='4 equal'):
        _head(in_channels=[DIMS, DIMS, DIMS, 16])
    with pytest.raises(ValueError):
        GMMClassifier(8, 2, memory_size=10, max_sample_per_component=20)
    with pytest.raises(ValueError,
                       match=r"unknown gmm_cfg keys \['memory'\]; valid: .*'memory_size'"):
        _head(gmm_cfg=dict(memory=10))


def test_loss_finite_and_every_parameter_gets_a_gradient():
    head = _head().train()
    losses = head.loss(_inputs(), label_samples(_labels()), None)
    assert set(losses) == {'loss_ce', 'loss_contrast', 'acc_seg'}
    assert all(torch.isfinite(v) for v in losses.values())
    _total(losses).backward()
    params = dict(head.named_parameters())
    assert 'classifier.score_norm.weight' in params and 'classifier.embed_norm.weight' in params
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    # EM state is buffers only (no Parameter can be moved by the optimizer)
    assert set(EM_BUFFERS) <= {n.split('.')[-1] for n, _ in head.named_buffers()}
    assert not any(n.split('.')[-1] in EM_BUFFERS for n in params)


def test_outlier_and_void_pixels_are_ignored():
    head = _head().eval()  # eval: nothing updates, so repeated calls are comparable
    lab = _labels()
    ref = head.loss(_inputs(), label_samples(lab), None)
    relabelled = lab.clone()
    relabelled[lab == 254] = 255
    same = head.loss(_inputs(), label_samples(relabelled), None)
    for key in ('loss_ce', 'loss_contrast'):
        torch.testing.assert_close(ref[key], same[key])
    # labels 254 and 255 never become contrast targets
    out = head._decode(_inputs())
    classes = grid_labels(head._stack_batch_gt(label_samples(lab)), (12, 16), num_classes=CLASSES,
                          ignore_labels=(255, 254))
    targets = head.classifier.assign_components(out.log_likelihoods, classes)
    assert ((targets == -1) == (classes == -1)).all()
    valid = classes >= 0
    assert (targets[valid] // COMPS == classes[valid]).all()  # class-c pixels -> [cC, (c+1)C)
    # an all-ignored batch gives finite zero losses
    void = head.loss(_inputs(), label_samples(torch.full_like(lab, 254)), None)
    assert float(void['loss_ce'].detach()) == 0.0
    assert float(void['loss_contrast'].detach()) == 0.0


def test_buffers_change_only_in_train_mode():
    head = _head()
    before = _em_state(head)
    head.eval()
    head.loss(_inputs(), label_samples(_labels()), None)
    head(_inputs())
    for k, v in _em_state(head).items():
        assert torch.equal(v, before[k]), k
    head.train()
    head.loss(_inputs(), label_samples(_labels()), None)
    after = _em_state(head)
    assert int(after['num_steps']) == 1
    assert not torch.equal(after['memory'], before['memory'])
    assert not torch.equal(after['means'], before['means'])  # EM fires at step 0
    torch.testing.assert_close(after['means'].norm(dim=-1), torch.ones(CLASSES, COMPS))
    assert (after['stds'] >= 0.1 - 1e-6).all()


def test_em_state_round_trips_and_resume_is_identical():
    head = _head().train()
    for seed in range(2):
        head.loss(_inputs(seed=seed), label_samples(_labels(seed=seed)), None)
    state = copy.deepcopy(head.state_dict())
    for key in EM_BUFFERS:
        assert f'classifier.{key}' in state
    torch.manual_seed(123)  # a fresh head draws different random buffers
    fresh = MODELS.build(dict(type='GMMHead', in_channels=[DIMS] * 4, channels=32,
                              num_classes=CLASSES, final_mlp_channels=16,
                              gmm_cfg=dict(num_components=COMPS, memory_size=30))).train()
    assert not torch.equal(fresh.classifier.memory, head.classifier.memory)
    fresh.load_state_dict(state)
    for seed in (5, 6, 7):
        head.loss(_inputs(seed=seed), label_samples(_labels(seed=seed)), None)
        fresh.loss(_inputs(seed=seed), label_samples(_labels(seed=seed)), None)
    for k, v in _em_state(head).items():
        assert torch.equal(v, getattr(fresh.classifier, k)), k


def test_memory_update_picks_at_most_n_evenly_spaced_correct_rows():
    clf = GMMClassifier(4, 2, num_components=2, memory_size=10, max_sample_per_component=3,
                        update_interval=100).train()
    clf.num_steps.fill_(1)  # no EM this step
    rows = torch.arange(40.0)[:, None].repeat(1, 4)  # row i is (i, i, i, i)
    targets = torch.full((40, ), -1)
    targets[:7] = 1  # component 1 (class 0, component 1): 7 correct rows 0..6
    targets[7:9] = 2  # component 2: 2 rows, one of them misclassified
    correct = torch.ones(40, dtype=torch.bool)
    correct[8] = False
    clf.memory_ptr[0, 1] = 9  # wraps after one slot
    memory_before = clf.memory.clone()
    clf.update(rows, targets, correct)
    # component 1: ranks floor(j * 6 / 2) = 0, 3, 6 -> rows 0, 3, 6 into slots 9, 0, 1
    assert clf.memory[0, 1, [9, 0, 1], 0].tolist() == [0.0, 3.0, 6.0]
    assert clf.memory_ptr[0, 1] == 2
    # component 2 (class 1, component 0): only the correct row 7
    assert clf.memory[1, 0, 0, 0] == 7.0 and clf.memory_ptr[1, 0] == 1
    untouched = clf.memory.clone()
    untouched[0, 1, [9, 0, 1]] = memory_before[0, 1, [9, 0, 1]]
    untouched[1, 0, 0] = memory_before[1, 0, 0]
    assert torch.equal(untouched, memory_before)
    assert int(clf.num_steps) == 2


def test_em_step_interval_and_present_classes_only():
    clf = GMMClassifier(4, 3, num_components=2, memory_size=6, max_sample_per_component=2,
                        update_interval=2).train()
    emb = F.normalize(torch.randn(10, 4), dim=-1)
    targets = torch.zeros(10, dtype=torch.long)  # only class 0 present
    correct = torch.ones(10, dtype=torch.bool)
    means0, stds0 = clf.means.clone(), clf.stds.clone()
    clf.update(emb, targets, correct)  # step 0: EM
    exp_mu, exp_std = em_update(means0[0], stds0[0], clf.memory[0])
    torch.testing.assert_close(clf.means[0], exp_mu)
    torch.testing.assert_close(clf.stds[0], exp_std)
    assert torch.equal(clf.means[1:], means0[1:]) and torch.equal(clf.stds[1:], stds0[1:])
    means1 = clf.means.clone()
    clf.update(emb, targets, correct)  # step 1: memory only
    assert torch.equal(clf.means, means1)
    clf.update(emb, targets, correct)  # step 2: EM again
    assert not torch.equal(clf.means[0], means1[0])


@pytest.mark.parametrize('value', [float('nan'), float('inf')])
def test_non_finite_embeddings_leave_the_em_state_alone(value):
    """The heads' checks raise on non-finite scores; the update itself (which cannot raise
    without a host read) must still not let one bad value into the memories or Gaussians."""
    clf = GMMClassifier(4, 2, num_components=2, memory_size=6,
                        max_sample_per_component=3, update_interval=1).train()
    emb = torch.ones(3, 4)
    emb[1, 2] = value
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    clf.update(emb, torch.zeros(3, dtype=torch.long), torch.ones(3, dtype=torch.bool))
    for key, old in before.items():
        if key != 'num_steps':
            assert torch.equal(clf.state_dict()[key], old), key
    assert int(clf.num_steps) == 1
    clf.update(emb.nan_to_num(posinf=1.0), torch.zeros(3, dtype=torch.long),
               torch.ones(3, dtype=torch.bool))
    assert not torch.equal(clf.memory, before['memory'])  # a finite step does write


def test_em_steps_follow_num_steps_changed_from_outside():
    """The host mirror of num_steps re-reads the buffer after load_state_dict / fill_."""
    clf = GMMClassifier(4, 1, num_components=1, memory_size=6, max_sample_per_component=2,
                        update_interval=3).train()
    emb = F.normalize(torch.randn(4, 4), dim=-1)
    targets, correct = torch.zeros(4, dtype=torch.long), torch.ones(4, dtype=torch.bool)
    clf.num_steps.fill_(4)  # steps 4, 5 are not EM steps, 6 is
    means = clf.means.clone()
    clf.update(emb, targets, correct)
    clf.update(emb, targets, correct)
    assert torch.equal(clf.means, means) and int(clf.num_steps) == 6
    state = copy.deepcopy(clf.state_dict())
    clf.update(emb, targets, correct)
    assert not torch.equal(clf.means, means)
    clf.load_state_dict(state)  # back to step 6: EM again
    torch.testing.assert_close(clf.means, means)
    clf.update(emb, targets, correct)
    assert not torch.equal(clf.means, means)
    clf.num_steps = torch.tensor(4)  # replaced: step 4 is not an EM step
    means = clf.means.clone()
    clf.update(emb, targets, correct)
    assert torch.equal(clf.means, means) and int(clf.num_steps) == 5


def test_frozen_head_is_bitwise_stable():
    head = _head()
    head.eval()
    head.requires_grad_(False)
    state = copy.deepcopy(head.state_dict())
    first = head(_inputs())
    head.loss(_inputs(), label_samples(_labels()), None)
    assert torch.equal(first, head(_inputs()))
    for k, v in head.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_gmm_head_is_gmmhead_subclass_with_defaults():
    head = GMMHead([DIMS] * 4, 32, num_classes=CLASSES, gmm_cfg=dict(memory_size=40))
    clf = head.classifier
    assert (clf.num_components, clf.update_interval, clf.max_sample_per_component) == (5, 5, 20)
    assert clf.mean_momentum == 0.999 and clf.var_floor == 1e-2 and head.contrast_weight == 0.01
    assert head.outlier_index == 254 and head.ignore_index == 255
    assert not hasattr(head, 'conv_seg')
    assert clf.memory.shape == (CLASSES, 5, 40, 32)
    torch.testing.assert_close(clf.means.norm(dim=-1), torch.ones(CLASSES, 5))
    assert math.isclose(float(clf.stds.min()), 1.0)


def _ddp_data():
    g = torch.Generator().manual_seed(3)
    emb = F.normalize(torch.randn(20, 4, generator=g), dim=-1)
    targets = torch.randint(-1, 4, (20, ), generator=g)
    correct = torch.rand(20, generator=g) > 0.2
    return emb, targets, correct


def _fresh_classifier():
    torch.manual_seed(0)
    return GMMClassifier(4, 2, num_components=2, memory_size=8, max_sample_per_component=3,
                         update_interval=1).train()


def _ddp_worker(rank, world_size, port, out_dir):
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.distributed.init_process_group('gloo', rank=rank, world_size=world_size)
    try:
        clf = _fresh_classifier()
        emb, targets, correct = _ddp_data()
        part = slice(0, 7) if rank == 0 else slice(7, 20)  # unequal sizes exercise padding
        for _ in range(2):
            clf.update(emb[part], targets[part], correct[part])
        torch.save(clf.state_dict(), os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.multiprocess
def test_all_gather_gives_every_rank_the_single_process_state(tmp_path):
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    torch.multiprocessing.spawn(_ddp_worker, args=(2, port, str(tmp_path)), nprocs=2)
    single = _fresh_classifier()
    emb, targets, correct = _ddp_data()
    for _ in range(2):
        single.update(emb, targets, correct)
    for rank in range(2):
        state = torch.load(tmp_path / f'rank{rank}.pth', weights_only=True)
        for key, value in single.state_dict().items():
            assert torch.equal(state[key], value), (rank, key)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_full_size_head_on_cuda_under_bf16_autocast():
    # paper sizes: 19 classes x 5 components, memory 8000 x 256 (~778 MB of buffers)
    head = GMMHead([768] * 4, 256, num_classes=19).cuda().train()
    inputs = [torch.randn(2, 768, 37, 74, device='cuda') for _ in range(4)]
    labels = torch.randint(0, 19, (2, 518, 1036), device='cuda')
    with torch.autocast('cuda', dtype=torch.bfloat16):
        losses = head.loss(inputs, label_samples(labels), None)
        scores = head(inputs)
    assert scores.dtype == torch.float32 and scores.shape == (2, 19, 148, 296)
    _total(losses).backward()
    assert all(torch.isfinite(v) for v in losses.values())
    assert int(head.classifier.num_steps) == 1


def test_assignment_equals_one_sinkhorn_per_class():
    """The all-classes-at-once assignment is GMMSeg's per-class Sinkhorn, class by class."""
    from mmseg_uem.models.utils.sinkhorn import sinkhorn_knopp

    clf = GMMClassifier(8, 4, num_components=3, memory_size=20)
    gen = torch.Generator().manual_seed(5)
    log_lik = torch.randn(300, 12, generator=gen) * 5 - 40
    labels = torch.randint(-1, 4, (300, ), generator=gen)
    labels[labels == 2] = 3  # class 2 absent
    targets = clf.assign_components(log_lik, labels)
    assert (targets[labels < 0] == -1).all()
    for cls in (0, 1, 3):
        rows = labels == cls
        _, ref = sinkhorn_knopp(log_lik[rows].view(-1, 4, 3)[:, cls], num_iters=3, epsilon=0.05)
        assert torch.equal(targets[rows], cls * 3 + ref)
