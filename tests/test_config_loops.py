"""Every config under configs/uem gives mmengine's Runner complete loops.

mmengine refuses a config whose val_dataloader, val_cfg and val_evaluator are not all set or
all None (the same for train_* and test_*), so ``tools/test.py CONFIG CKPT`` failed on every
test config that inherited a dataset base's val_dataloader without a val_cfg.
"""
from pathlib import Path

import pytest
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / 'configs' / 'uem').rglob('*.py'))


@pytest.mark.parametrize('path', CONFIGS)
def test_loops_are_complete(path):
    cfg = Config.fromfile(str(ROOT / path))
    for stage in ('train', 'val', 'test'):
        parts = [f'{stage}_dataloader', f'{stage}_cfg', f'{stage}_evaluator']
        if stage == 'train':
            parts = parts[:2] + ['optim_wrapper']  # training: an optimizer, no evaluator
        present = [cfg.get(key) is not None for key in parts]
        assert all(present) or not any(present), (path, dict(zip(parts, present)))
    assert cfg.get('test_dataloader') is not None, path
