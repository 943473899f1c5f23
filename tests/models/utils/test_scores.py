"""Tests of the anomaly score modes against hand-computed values."""
import math

import pytest
import torch
from torchvision.transforms import functional as TF

from mmseg_uem.models.utils.scores import (
    SCORE_MODES,
    STAGE1_SCORE_MODES,
    UEM_SCORE_MODES,
    anomaly_score,
    check_score_mode,
)

# one image, 3 classes, 1 x 2 pixels
F_SCORES = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-1.0, 0.5]]).reshape(1, 3, 1, 2)
O_SCORES = torch.tensor([[0.5, -1.0], [0.2, 3.0]]).reshape(1, 2, 1, 2)


def _hand(mode):
    f = [[1.0, 0.0, -1.0], [0.0, 2.0, 0.5]]  # per pixel
    o = [[0.5, 0.2], [-1.0, 3.0]]
    out = []
    for fp, op in zip(f, o):
        lse = math.log(sum(math.exp(v) for v in fp))
        out.append({
            'LLR': op[1] - op[0] - max(fp),
            'ID': -max(fp),
            'OoD': op[1] - op[0],
            'O1': op[1],
            'MSP': -max(math.exp(v - lse) for v in fp),
            'MaxLogit': -max(fp),
            'Energy': -lse,
            'RbA': -sum(math.tanh(v) for v in fp),
        }[mode])
    return torch.tensor(out).reshape(1, 1, 1, 2)


@pytest.mark.parametrize('mode', [m for m in SCORE_MODES if m != 'PEBAL'])  # PEBAL: below
def test_modes_match_hand_computed(mode):
    out = anomaly_score(F_SCORES, O_SCORES, mode=mode)
    assert out.shape == (1, 1, 1, 2) and out.dtype == torch.float32
    torch.testing.assert_close(out, _hand(mode))


def test_llr_hand_values():
    out = anomaly_score(F_SCORES, O_SCORES, mode='LLR')
    # pixel 0: 0.2 - 0.5 - 1 = -1.3; pixel 1: 3 - (-1) - 2 = 2
    torch.testing.assert_close(out.flatten(), torch.tensor([-1.3, 2.0]))


def test_llr_sign_and_monotonicity():
    torch.manual_seed(0)
    f = torch.randn(2, 4, 3, 3)
    o = torch.randn(2, 2, 3, 3)
    base = anomaly_score(f, o)
    up_out = o.clone()
    up_out[:, 1] += 0.5
    down_in = o.clone()
    down_in[:, 0] -= 0.5
    assert (anomaly_score(f, up_out) > base).all()
    assert (anomaly_score(f, down_in) > base).all()
    assert (anomaly_score(f - 0.5, o) > base).all()  # less inlier evidence: more anomalous
    # a pixel that the UEM calls outlier and the inlier head is unsure about ranks above a
    # confidently-inlier pixel
    f2 = torch.tensor([[[[5.0, 0.1]]], [[[0.0, 0.0]]]]).permute(1, 0, 2, 3)  # (1, 2, 1, 2)
    o2 = torch.tensor([[[[2.0, -2.0]]], [[[-2.0, 2.0]]]]).permute(1, 0, 2, 3)
    s = anomaly_score(f2, o2).flatten()
    assert s[1] > s[0]
    for mode in ('ID', 'MaxLogit', 'Energy', 'RbA'):
        assert (anomaly_score(f - 0.5, mode=mode) > anomaly_score(f, mode=mode)).all(), mode
    # MSP is shift-invariant: lower only the winning class, by less than its lead
    top2 = f.topk(2, dim=1).values
    lowered = f - 0.5 * (top2[:, :1] - top2[:, 1:]) * (f == top2[:, :1])
    assert (anomaly_score(lowered, mode='MSP') > anomaly_score(f, mode='MSP')).all()


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match='needs the UEM scores'):
        anomaly_score(F_SCORES, None, mode='LLR')
    with pytest.raises(ValueError, match='needs the UEM scores'):
        anomaly_score(F_SCORES, mode='OoD')
    with pytest.raises(ValueError, match='MaxLogit'):
        anomaly_score(F_SCORES, O_SCORES, mode='entropy')
    with pytest.raises(ValueError, match='spatial'):
        anomaly_score(F_SCORES, O_SCORES[..., :1])
    with pytest.raises(ValueError):
        anomaly_score(F_SCORES, O_SCORES.repeat(1, 2, 1, 1))
    assert anomaly_score(F_SCORES, mode='MSP').shape == (1, 1, 1, 2)


def test_check_score_mode_knows_which_modes_need_the_uem():
    assert set(UEM_SCORE_MODES) == {'LLR', 'OoD', 'O1'}
    assert STAGE1_SCORE_MODES == ('ID', 'MSP', 'MaxLogit', 'Energy', 'RbA', 'PEBAL')
    for mode in SCORE_MODES:
        assert check_score_mode(mode, with_uem=True) == mode
    for mode in STAGE1_SCORE_MODES:
        assert check_score_mode(mode, with_uem=False) == mode
    with pytest.raises(ValueError, match=r"test_cfg.score='OoD' needs the UEM.*ID, MSP"):
        check_score_mode('OoD', with_uem=False, what='test_cfg.score')
    with pytest.raises(ValueError, match="unknown test_cfg.score 'llr'"):
        check_score_mode('llr', with_uem=True, what='test_cfg.score')


def test_id_and_maxlogit_are_one_formula():
    torch.manual_seed(0)
    f = torch.randn(2, 5, 3, 4)
    assert torch.equal(anomaly_score(f, mode='ID'), anomaly_score(f, mode='MaxLogit'))


def test_pebal_is_the_energy_map_smoothed_as_pebal_does():
    """PEBAL: torchvision GaussianBlur(7, sigma=1) of -logsumexp_k F_k (its
    compute_anomaly_score); the 1 x 2 map above is too small for a 7 x 7 blur."""
    torch.manual_seed(0)
    f = torch.randn(2, 4, 8, 9) * 3
    energy = -torch.logsumexp(f, 1, keepdim=True)
    expected = TF.gaussian_blur(energy, kernel_size=[7, 7], sigma=[1.0, 1.0])
    out = anomaly_score(f, mode='PEBAL')
    assert out.shape == (2, 1, 8, 9)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


def test_float64_scores_stay_float64():
    f = torch.randn(1, 3, 8, 8, dtype=torch.float64)
    for mode in ('Energy', 'RbA', 'PEBAL'):
        assert anomaly_score(f, mode=mode).dtype == torch.float64
    assert anomaly_score(f.half(), mode='RbA').dtype == torch.float32
