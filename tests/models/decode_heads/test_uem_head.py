"""Tests of UEMHead: parameter count, the likelihood-ratio loss, both classifiers."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmseg.registry import MODELS

from mmseg_uem.models.decode_heads import GMMClassifier, UEMHead
from mmseg_uem.testing.batches import label_samples

DIMS, INLIERS = 24, 4


def _head(classifier='linear', **kwargs):
    cfg = dict(type='UEMHead', in_channels=DIMS, mlp_channels=(16, 16, 8), classifier=classifier,
               num_inlier_classes=INLIERS)
    if classifier == 'gmm':
        cfg['gmm_cfg'] = dict(memory_size=24, num_components=2)
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _inputs(batch=2, height=3, width=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, DIMS, height, width, generator=g) for _ in range(2)]


def _labels(batch=2, height=12, width=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    lab = torch.randint(0, INLIERS, (batch, height, width), generator=g)
    lab[:, 4:9, 5:12] = 254  # pasted outlier
    lab[:, :2] = 255  # void
    lab[:, -1, :3] = 100  # an id that is neither inlier, outlier nor void: ignored
    return lab




def _inlier_scores(batch=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, INLIERS, 6, 8, generator=g)  # coarser than the labels


def test_parameter_count_of_the_paper():
    head = UEMHead(768)
    assert sum(p.numel() for p in head.parameters()) == 788_226
    gmm = UEMHead(768, classifier='gmm', gmm_cfg=dict(memory_size=20))
    # the MLP plus the GMM's two LayerNorms (256 and 2 wide); means / stds are buffers
    assert sum(p.numel() for p in gmm.parameters()) == 787_712 + 516
    # the classifier's own defaults, as in GMMHead; the official G-G value (EM every 3 steps)
    # is in the config (tests/test_configs.py)
    assert gmm.classifier.update_interval == 5 and gmm.classifier.num_components == 5


@pytest.mark.parametrize('classifier', ['linear', 'gmm'])
def test_forward_shape(classifier):
    head = _head(classifier).eval()
    out = head(_inputs())
    assert out.shape == (2, 2, 3, 4) and torch.isfinite(out).all()


def test_standard_loss_raises_clearly():
    with pytest.raises(RuntimeError, match='loss_by_uem'):
        _head().loss(_inputs(), label_samples(_labels()), None)


def test_bad_config_raises():
    with pytest.raises(ValueError, match='classifier'):
        _head('mlp')
    with pytest.raises(ValueError, match='gmm_cfg'):
        _head('linear', gmm_cfg=dict(update_interval=3))
    with pytest.raises(ValueError, match='unknown gmm_cfg'):
        _head('gmm', gmm_cfg=dict(bogus=1))
    with pytest.raises(ValueError, match='channels'):
        _head(channels=32)


def test_targets():
    head = _head()
    lab = torch.tensor([[[0, 3, 4, 254, 255, 100]]])
    assert head.uem_targets(lab).flatten().tolist() == [0, 0, 255, 1, 255, 255]


@pytest.mark.parametrize('classifier', ['linear', 'gmm'])
def test_llr_loss_equals_formula(classifier):
    head = _head(classifier).eval()  # eval: the GMM memory does not move between calls
    inputs, lab, f = _inputs(), _labels(), _inlier_scores()
    losses = head.loss_by_uem(inputs, f, label_samples(lab))
    o = head(inputs)
    o_up = F.interpolate(o, size=(12, 16), mode='bilinear', align_corners=False)
    f_up = F.interpolate(f, size=(12, 16), mode='bilinear', align_corners=False)
    llr = o_up[:, 1] - o_up[:, 0] - f_up.max(1).values
    outlier, inlier = lab == 254, (lab >= 0) & (lab < INLIERS)
    # BCE-with-logits written out: softplus(-llr) on outliers, softplus(llr) on inliers
    expected_bce = torch.cat([F.softplus(-llr[outlier]), F.softplus(llr[inlier])]).mean()
    torch.testing.assert_close(losses['loss_bce'], expected_bce)
    t = torch.full_like(lab, -1)
    t[inlier], t[outlier] = 0, 1
    expected_ce = 0.5 * F.cross_entropy(o_up, t, ignore_index=-1)
    torch.testing.assert_close(losses['loss_ce'], expected_ce)
    assert ('loss_contrast' in losses) == (classifier == 'gmm')


def test_ignored_pixels_do_not_matter_and_alpha_zero_drops_ce():
    head = _head(alpha=0.0).eval()
    lab = _labels()
    ref = head.loss_by_uem(_inputs(), _inlier_scores(), label_samples(lab))
    assert set(ref) == {'loss_bce'}
    relabelled = lab.clone()
    relabelled[lab == 255] = 100
    same = head.loss_by_uem(_inputs(), _inlier_scores(), label_samples(relabelled))
    torch.testing.assert_close(ref['loss_bce'], same['loss_bce'])
    void = head.loss_by_uem(_inputs(), _inlier_scores(), label_samples(torch.full_like(lab, 255)))
    assert float(void['loss_bce'].detach()) == 0.0
    void['loss_bce'].backward()  # a graph, no NaN


def test_outlier_pixels_with_higher_llr_lower_the_loss():
    head = _head(alpha=0.0).eval()
    lab = torch.full((1, 4, 4), 254)
    f = torch.zeros(1, INLIERS, 4, 4)
    inputs = _inputs(batch=1)
    low = head.loss_by_uem(inputs, f + 1.0, label_samples(lab))['loss_bce']
    high = head.loss_by_uem(inputs, f - 1.0, label_samples(lab))['loss_bce']
    assert high < low  # lower inlier evidence -> larger LLR -> smaller BCE on outliers


@pytest.mark.parametrize('classifier', ['linear', 'gmm'])
def test_gradients_reach_only_the_uem(classifier):
    head = _head(classifier).train()
    f = _inlier_scores().requires_grad_(True)
    losses = head.loss_by_uem(_inputs(), f, label_samples(_labels()))
    sum(losses.values()).backward()
    assert f.grad is None  # the frozen inlier scores are a fixed offset
    for name, p in head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_gmm_memory_moves_in_train_mode_only():
    head = _head('gmm')
    state = copy.deepcopy(head.classifier.state_dict())
    head.eval()
    head.loss_by_uem(_inputs(), _inlier_scores(), label_samples(_labels()))
    for k, v in head.classifier.state_dict().items():
        assert torch.equal(v, state[k]), k
    head.train()
    head.loss_by_uem(_inputs(), _inlier_scores(), label_samples(_labels()))
    assert int(head.classifier.num_steps) == 1
    assert not torch.equal(head.classifier.memory, state['memory'])


def test_two_class_layernorm_saturates_to_plus_minus_one():
    # LayerNorm over 2 classes of [a, a + d] is -+ d / (2 sqrt(d^2 / 4 + eps)): a gate
    clf = GMMClassifier(8, 2, num_components=3, memory_size=20).eval()
    out = clf(torch.randn(1, 8, 5, 6))
    maxima = out.log_likelihoods.view(-1, 2, 3).amax(-1)
    d = maxima[:, 1] - maxima[:, 0]
    scores = out.scores.permute(0, 2, 3, 1).reshape(-1, 2)
    expected = d / (2 * torch.sqrt(d**2 / 4 + 1e-5))
    torch.testing.assert_close(scores[:, 1], expected, rtol=0, atol=1e-3)
    torch.testing.assert_close(scores[:, 0], -expected, rtol=0, atol=1e-3)
    wide = d.abs() >= 0.1
    assert wide.any() and (scores[wide].abs() > 0.998).all()
    for delta, value in ((1e-2, 0.845), (0.1, 0.998), (1.0, 1.0)):
        gate = clf.score_norm(torch.tensor([[0.0, delta]])).detach()
        assert abs(float(gate[0, 1]) - value) < 1e-3 and abs(float(gate[0, 0]) + value) < 1e-3
