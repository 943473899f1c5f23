"""A training process killed (SIGKILL) after a checkpoint resumes with ``--resume`` and ends
bitwise identical to an uninterrupted run: weights, optimizer, GMM memories, memory pointers
and EM step counters.

Why bitwise is possible: mmengine 0.10 does not restore RNG states on resume, but the seed
(``randomness.seed``) is re-applied at start-up and ``IterBasedTrainLoop`` replays the
sampler and the data pipeline for the iterations already done ("Advance dataloader N
steps"), so with ``num_workers=0`` the augmentation RNG (global numpy, also AnomalyMix's) is
in the same state; the training step itself draws no random numbers (no dropout, no drop
path, deterministic Sinkhorn/EM sampling). With ``num_workers > 0`` the same holds per
worker (mmengine seeds workers from the seed and the worker id) but is not tested here.
"""
import subprocess
import sys

import pytest
import torch
from rel_utils import (
    ROOT,
    checkpoint_iters,
    gmm_state,
    kill_when_marked,
    make_data,
    make_stage1_checkpoint,
    run_tool,
    tool_env,
    write_config,
)

TRAIN = ROOT / 'tools' / 'train.py'


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def _assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f'{what}: {key} differs'


def _assert_same_optimizer(a: dict, b: dict) -> None:
    assert a['param_groups'] == b['param_groups']
    assert a['state'].keys() == b['state'].keys()
    for idx in a['state']:
        for name, value in a['state'][idx].items():
            other = b['state'][idx][name]
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (idx, name)


@pytest.mark.slow
@pytest.mark.resume
@pytest.mark.parametrize('stage', [1, 2])
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, stage):
    """Stage 1: GMMHead memories; stage 2: UEMHead (G-G) memories, AnomalyMix's RNG, and
    the frozen stage-1 buffers reloaded from the stage-1 checkpoint."""
    data = make_data(tmp_path / 'data', num_train=4, coco=stage == 2)
    stage1 = None
    if stage == 2:
        stage1_cfg = write_config(tmp_path / 'stage1.py', data)
        stage1 = str(make_stage1_checkpoint(stage1_cfg, tmp_path / 'stage1.pth'))
    plain = write_config(tmp_path / 'train.py', data, stage=stage, stage1=stage1, max_iters=6,
                         ckpt_interval=2)
    marker = tmp_path / 'reached_iter_3'
    stalling = write_config(
        tmp_path / 'train_stall.py', data, stage=stage, stage1=stage1, max_iters=6,
        ckpt_interval=2, test_hooks=True,
        custom_hooks=[dict(type='StallAfterIterHook', iteration=3, marker=str(marker))])
    head = 'decode_head' if stage == 1 else 'auxiliary_head'

    ref_dir, crash_dir = tmp_path / 'reference', tmp_path / 'crashed'

    # The crashing run starts first and is killed while the reference run is loading.
    crashing = subprocess.Popen(
        [sys.executable, str(TRAIN), str(stalling), '--work-dir', str(crash_dir)],
        cwd=tmp_path, env=tool_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    try:
        run_tool(TRAIN, plain, '--work-dir', ref_dir, cwd=tmp_path)
        kill_when_marked(crashing, marker)
    finally:
        if crashing.poll() is None:
            crashing.kill()
    # killed during iteration 3's hooks: the model in memory was one step past iter_2.pth
    assert checkpoint_iters(crash_dir) == [2]
    assert (crash_dir / 'last_checkpoint').read_text().strip().endswith('iter_2.pth')

    proc = run_tool(TRAIN, plain, '--work-dir', crash_dir, '--resume', cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Advance dataloader 2 steps' in log
    assert checkpoint_iters(crash_dir) == [2, 4, 6]

    first = _load(ref_dir / 'iter_2.pth')['state_dict']
    for it in (4, 6):
        ref, res = _load(ref_dir / f'iter_{it}.pth'), _load(crash_dir / f'iter_{it}.pth')
        assert ref['meta']['iter'] == res['meta']['iter'] == it
        em_ref, em_res = gmm_state(ref['state_dict']), gmm_state(res['state_dict'])
        assert int(em_res[f'{head}.classifier.num_steps']) == it
        # the pointers have wrapped (10 slots, 4 writes per component and step) and moved
        assert em_res[f'{head}.classifier.memory_ptr'].any()
        # the runs do train: the memory and the trained weights moved since iter 2
        assert not torch.equal(em_res[f'{head}.classifier.memory'],
                               first[f'{head}.classifier.memory'])
        trained = next(k for k in first if k.startswith(head) and k.endswith('weight'))
        assert not torch.equal(res['state_dict'][trained], first[trained])
        _assert_same_tensors(em_ref, em_res, f'GMM state at iter {it}')
        _assert_same_tensors(ref['state_dict'], res['state_dict'], f'weights at iter {it}')
        _assert_same_optimizer(ref['optimizer'], res['optimizer'])
        assert ref['param_schedulers'] == res['param_schedulers']
    if stage == 2:  # stage 1 stayed frozen and equal to its checkpoint in both runs
        frozen = torch.load(stage1, map_location='cpu', weights_only=True)['state_dict']
        _assert_same_tensors({k: v for k, v in res['state_dict'].items()
                              if k.startswith(('backbone.', 'decode_head.'))},
                             frozen, 'stage-1 part')
