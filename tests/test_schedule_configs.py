"""The paper schedules give every step the learning rate of the public code's schedule.

Reference: Hugging Face ``get_polynomial_decay_schedule_with_warmup`` (as copied by the
public UEM code) stepped by Lightning after every optimizer step, written out here.
"""
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.optim.scheduler import LinearLR, PolyLR

ROOT = Path(__file__).resolve().parents[1]
SCHEDULERS = {'LinearLR': LinearLR, 'PolyLR': PolyLR}


def public_rate(step: int, *, lr: float, warmup: int, total: int, lr_end: float) -> float:
    if step < warmup:
        return lr * step / max(1, warmup)
    if step > total:
        return lr_end
    remaining = 1 - (step - warmup) / (total - warmup)
    return (lr - lr_end) * remaining + lr_end


@pytest.mark.parametrize('name,total', [('schedule_stage1_90k', 90000),
                                        ('schedule_stage2_4k', 4000)])
def test_rates_match_the_public_schedule(name, total):
    cfg = Config.fromfile(ROOT / f'configs/_base_/schedules/{name}.py')
    lr = cfg.optim_wrapper.optimizer.lr
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=lr)
    schedulers = [SCHEDULERS[s['type']](optimizer, **{k: v for k, v in s.items() if k != 'type'})
                  for s in cfg.param_scheduler]
    ours = np.empty(total)
    for step in range(total):  # the rate each optimizer step uses
        ours[step] = optimizer.param_groups[0]['lr']
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    public = np.array([public_rate(k, lr=lr, warmup=1500, total=total, lr_end=1e-7)
                       for k in range(total)])
    assert cfg.train_cfg.max_iters == total
    np.testing.assert_allclose(ours, public, rtol=0, atol=1e-6 * lr)  # start_factor at step 0
    assert ours[1500] == pytest.approx(lr) and ours[1499] < lr  # full rate at step 1500
