"""PEBAL's abstention and energy losses against float64 loops, hand values and gradcheck."""
import math

import pytest
import torch

from mmseg_uem.models.losses import PEBALAbstentionLoss, PEBALEnergyLoss
from mmseg_uem.models.losses.pebal_loss import neighbour_smoothness

OUT, VOID = 254, 255


def _lse(values):
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _blur(img, k=7, sigma=1.0):
    """float64 Gaussian blur by explicit sums with reflection (torchvision's padding)."""
    h, w, half = len(img), len(img[0]), k // 2
    taps = [math.exp(-0.5 * ((i - half) / sigma) ** 2) for i in range(k)]
    taps = [t / sum(taps) for t in taps]

    def ref(i, n):
        return -i if i < 0 else (2 * (n - 1) - i if i >= n else i)

    return [[sum(taps[a] * taps[b] * img[ref(y + a - half, h)][ref(x + b - half, w)]
                 for a in range(k) for b in range(k)) for x in range(w)] for y in range(h)]


def _pixels(t, b):
    return [[t[b, :, y, x].tolist() for x in range(t.shape[3])] for y in range(t.shape[2])]


def _loop_energy(logits, labels, k, m_in=-12.0, m_out=-6.0, w_sp=5e-4, w_sm=3e-6):
    """PEBAL energy_loss written out pixel by pixel (float64)."""
    energy = [[[-_lse(p[:k]) for p in row] for row in _pixels(logits, b)]
              for b in range(logits.shape[0])]
    e_in, e_out = [], []
    smooth = 0.0
    for b, emap in enumerate(energy):
        h, w = len(emap), len(emap[0])
        for y in range(h):
            for x in range(w):
                lab = labels[b, y, x].item()
                if lab == OUT:
                    e_out.append(emap[y][x])
                elif lab != VOID:
                    e_in.append(emap[y][x])
                if y + 1 < h:
                    smooth += (emap[y + 1][x] - emap[y][x]) ** 2
                if x + 1 < w:
                    smooth += (emap[y][x + 1] - emap[y][x]) ** 2
    hinge_in = sum(max(e - m_in, 0) ** 2 for e in e_in) / len(e_in)
    if e_out:
        hinge_out = sum(max(m_out - e, 0) ** 2 for e in e_out) / len(e_out)
        loss = 0.5 * (hinge_in + hinge_out) + w_sp * math.sqrt(sum(e * e for e in e_out))
    else:
        loss = hinge_in
    return loss + w_sm * smooth / 2


def _loop_abstention(logits, labels, k, reg=0.1):
    """PEBAL Gambler, called once on the images without and once on those with outliers."""
    clean, mixed_in, mixed_out = [], [], []
    for b in range(logits.shape[0]):
        pix = _pixels(logits, b)
        reward = _blur([[_lse(p[:k]) ** 2 for p in row] for row in pix])
        has_out = any(v == OUT for v in labels[b].flatten().tolist())
        for y, row in enumerate(pix):
            for x, p in enumerate(row):
                lse = _lse(p)
                probs = [math.exp(v - lse) for v in p]
                r = probs[k] / reward[y][x]
                lab = labels[b, y, x].item()
                if lab == OUT:
                    mixed_out.extend(math.log(max(probs[c] + r, 1e-7)) for c in range(k))
                elif lab != VOID:
                    (mixed_in if has_out else clean).append(math.log(probs[lab] + r))
    mean = lambda v: sum(v) / len(v) if v else 0.0  # noqa: E731
    return -(mean(clean) + mean(mixed_in) + reg * mean(mixed_out))


def _batch(seed, k=3, height=4, width=5, outliers=True):
    torch.manual_seed(seed)
    logits = torch.randn(2, k + 1, height, width, dtype=torch.float64) * 2
    labels = torch.randint(0, k, (2, height, width))
    labels[0, 0, :3] = VOID
    if outliers:
        labels[1, 1:3, 1:4] = OUT
    return logits, labels


def test_smoothness_hand_value():
    # E = [[0, 1], [2, 3]]: vertical (2-0)^2 + (3-1)^2 = 8, horizontal 1 + 1 = 2; (8 + 2) / 2
    maps = torch.tensor([[[0.0, 1.0], [2.0, 3.0]]])
    assert neighbour_smoothness(maps).item() == 5.0


def test_energy_hand_value():
    # K = 1, 1 x 2 map: E = -F; inlier F = 10 -> E = -10, hinge (-10 + 12)^2 = 4;
    # outlier F = 8 -> E = -8, hinge (-6 + 8)^2 = 4, sparsity 5e-4 * 8;
    # smoothness 3e-6 * (-8 + 10)^2 / 2. Weight 1 here.
    logits = torch.tensor([10.0, 8.0], dtype=torch.float64).reshape(1, 1, 1, 2)
    labels = torch.tensor([[[0, OUT]]])
    loss = PEBALEnergyLoss(num_classes=1, loss_weight=1.0)(logits, labels)
    assert loss.item() == pytest.approx(0.5 * (4 + 4) + 5e-4 * 8 + 3e-6 * 2, rel=1e-12)


@pytest.mark.parametrize('outliers', [True, False])
def test_energy_matches_float64_loop(outliers):
    logits, labels = _batch(0, outliers=outliers)
    logits = logits * 4  # energies on both sides of the margins
    loss = PEBALEnergyLoss(num_classes=3)(logits, labels)
    assert loss.dtype == torch.float64
    assert loss.item() == pytest.approx(0.1 * _loop_energy(logits, labels, 3), rel=1e-12)


@pytest.mark.parametrize('outliers', [True, False])
def test_abstention_matches_float64_loop(outliers):
    logits, labels = _batch(1, height=5, width=6, outliers=outliers)
    loss = PEBALAbstentionLoss(num_classes=3)(logits, labels)
    assert loss.item() == pytest.approx(_loop_abstention(logits, labels, 3), rel=1e-10)


def test_abstention_hand_value():
    # K = 1, both channels log 2 on a 4 x 4 map of inliers: p = (1/2, 1/2), E = -log 2, the
    # reward E^2 = log(2)^2 everywhere (a blur keeps a constant), r = 0.5 / log(2)^2,
    # loss = -log(p_y + r)
    logits = torch.full((1, 2, 4, 4), math.log(2.0), dtype=torch.float64)
    labels = torch.zeros(1, 4, 4, dtype=torch.long)
    r = 0.5 / math.log(2.0) ** 2
    loss = PEBALAbstentionLoss(num_classes=1)(logits, labels)
    assert loss.item() == pytest.approx(-math.log(0.5 + r), rel=1e-12)


def test_gradchecks():
    logits, labels = _batch(2, k=2, height=4, width=4)
    logits = (logits * 0.7).requires_grad_()
    for loss in (PEBALAbstentionLoss(num_classes=2), PEBALEnergyLoss(num_classes=2)):
        assert torch.autograd.gradcheck(lambda x, f=loss: f(x, labels), (logits, ))
    no_out = labels.masked_fill(labels == OUT, 0)
    energy = PEBALEnergyLoss(num_classes=2)
    assert torch.autograd.gradcheck(lambda x: energy(x, no_out), (logits, ))


def test_abstention_needs_the_extra_channel():
    with pytest.raises(ValueError, match='K \\+ 1 = 4'):
        PEBALAbstentionLoss(num_classes=3)(torch.zeros(1, 3, 4, 4),
                                           torch.zeros(1, 4, 4, dtype=torch.long))
