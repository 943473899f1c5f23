"""RbAOutlierLoss against hand-worked values, a float64 loop, and gradcheck."""
import math

import pytest
import torch

from mmseg_uem.models.losses import RbAOutlierLoss

OUT, VOID = 254, 255


def _loop_rba(logits, labels, m_in=-1.0, m_out=-0.1):
    """float64 reference of RbA's squared-hinge outlier loss, pixel by pixel."""
    batch, classes, height, width = logits.shape
    inl, out = [], []
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                s = -sum(math.tanh(logits[b, k, y, x].item()) for k in range(classes))
                lab = labels[b, y, x].item()
                if lab == OUT:
                    out.append(max(m_out - s, 0.0) ** 2)
                elif lab != VOID:
                    inl.append(max(s - m_in, 0.0) ** 2)
    loss_in = sum(inl) / len(inl) if inl else 0.0
    if not out:
        return loss_in
    return 0.5 * (loss_in + sum(out) / len(out))


def test_hand_worked_value():
    # two classes; pixel 0 inlier with F = (0, 0): s = 0, hinge (0 + 1)^2 = 1;
    # pixel 1 outlier with tanh F = (0.5, 0.5): s = -1, hinge (-0.1 + 1)^2 = 0.81;
    # pixel 2 void. Loss = 0.5 * (1 + 0.81) = 0.905
    a = math.atanh(0.5)
    logits = torch.tensor([[0.0, a, 7.0], [0.0, a, -3.0]]).reshape(1, 2, 1, 3)
    labels = torch.tensor([[[0, OUT, VOID]]])
    loss = RbAOutlierLoss()(logits, labels)
    assert loss.item() == pytest.approx(0.905, abs=1e-6)


def test_no_outlier_in_batch_gives_inlier_term_unhalved():
    logits = torch.zeros(1, 2, 1, 2)
    labels = torch.tensor([[[0, 1]]])
    assert RbAOutlierLoss()(logits, labels).item() == pytest.approx(1.0)
    assert RbAOutlierLoss(loss_weight=0.3)(logits, labels).item() == pytest.approx(0.3)


def test_satisfied_margins_give_zero():
    logits = torch.tensor([[5.0, -10.0], [5.0, -10.0]]).reshape(1, 2, 1, 2)
    # pixel 0 inlier: s = -2 tanh 5 ~ -2 < -1; pixel 1 outlier: s = 2 tanh 10 ~ 2 > -0.1
    assert RbAOutlierLoss()(logits, torch.tensor([[[3, OUT]]])).item() == 0.0


@pytest.mark.parametrize('with_outliers', [True, False])
def test_matches_float64_loop(with_outliers):
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 3, 5, dtype=torch.float64) * 2
    labels = torch.randint(0, 4, (2, 3, 5))
    labels[0, 0, :2] = VOID
    if with_outliers:
        labels[1, 1:, 2:] = OUT
    loss = RbAOutlierLoss(inlier_margin=-0.5, outlier_margin=0.3)(logits, labels)
    assert loss.dtype == torch.float64
    expected = _loop_rba(logits, labels, -0.5, 0.3)
    assert loss.item() == pytest.approx(expected, rel=1e-12)


def test_gradcheck():
    torch.manual_seed(1)
    logits = (torch.randn(2, 3, 2, 3, dtype=torch.float64) * 1.5).requires_grad_()
    labels = torch.tensor([[[0, 1, OUT], [2, VOID, OUT]], [[1, 1, 0], [OUT, 2, 2]]])
    loss = RbAOutlierLoss()
    assert torch.autograd.gradcheck(lambda x: loss(x, labels), (logits, ))


def test_bad_inputs_are_refused():
    loss = RbAOutlierLoss()
    with pytest.raises(ValueError, match='one size'):
        loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 4, dtype=torch.long))
    with pytest.raises(ValueError, match='pixel weights'):
        loss(torch.zeros(1, 2, 3, 3), torch.zeros(1, 3, 3, dtype=torch.long),
             weight=torch.ones(1, 3, 3))
    with pytest.raises(ValueError, match='loss_'):
        RbAOutlierLoss(loss_name='rba')
    with pytest.raises(ValueError, match='differ'):
        RbAOutlierLoss(outlier_index=255)
