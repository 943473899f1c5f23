"""Two CPU processes (torchrun, gloo) train stage 1 and stage 2 a few iterations through
``tools/dist_train.sh``, keep every GMM buffer identical on both ranks after every
iteration, and ``tools/dist_test.sh`` with 2 processes gives exactly the metrics of
``tools/test.py`` with 1 process on the same checkpoint.

Batch semantics are mmseg's: ``batch_size`` is per process, so the 2-process runs see 2
images per step at ``batch_size=1``. Only rank 0 writes checkpoints, so the rank equality is
checked inside the run by a test hook that all-gathers the buffers (``RankBufferCheckHook``).
"""
import json

import pytest
from rel_utils import ROOT, make_data, read_metrics, run_dist, run_tool, write_config

HOOK = 'RankBufferCheckHook'


def _check_ranks(report, iters, heads):
    diffs = json.loads(report.read_text())
    assert sorted(int(k) for k in diffs) == list(range(1, iters + 1))
    for it, entry in diffs.items():
        assert entry['world_size'] == 2
        assert entry['max_abs_diff'] == 0.0, f'GMM buffers differ across ranks at iter {it}'
        for head in heads:  # every EM buffer of every GMM classifier was compared
            assert {f'{head}.classifier.{b}' for b in
                    ('means', 'stds', 'memory', 'memory_ptr', 'num_steps')} <= set(
                        entry['buffers'])


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_train_both_stages_and_test_like_one(tmp_path):
    data = make_data(tmp_path / 'data', num_train=4, coco=True, road_anomaly=3)
    iters = 3
    s1_report, s2_report = tmp_path / 'ranks_stage1.json', tmp_path / 'ranks_stage2.json'
    stage1 = write_config(tmp_path / 'stage1.py', data, max_iters=iters, ckpt_interval=iters,
                          batch_size=1, test_hooks=True,
                          custom_hooks=[dict(type=HOOK, out=str(s1_report))])
    run_dist('dist_train.sh', stage1, 2, '--work-dir', tmp_path / 'w1', cwd=tmp_path)
    _check_ranks(s1_report, iters, ['decode_head'])

    stage2 = write_config(tmp_path / 'stage2.py', data, stage=2,
                          stage1=str(tmp_path / 'w1' / f'iter_{iters}.pth'), max_iters=iters,
                          ckpt_interval=iters, batch_size=1, test_hooks=True,
                          custom_hooks=[dict(type=HOOK, out=str(s2_report))])
    run_dist('dist_train.sh', stage2, 2, '--work-dir', tmp_path / 'w2', cwd=tmp_path)
    # the frozen stage-1 head is in eval mode: its buffers are compared too (and unchanged)
    _check_ranks(s2_report, iters, ['decode_head', 'auxiliary_head'])

    ckpt = tmp_path / 'w2' / f'iter_{iters}.pth'
    run_dist('dist_test.sh', stage2, ckpt, 2, '--work-dir', tmp_path / 'test2', cwd=tmp_path)
    run_tool(ROOT / 'tools' / 'test.py', stage2, ckpt, '--work-dir', tmp_path / 'test1',
             cwd=tmp_path)
    two, one = read_metrics(tmp_path / 'test2'), read_metrics(tmp_path / 'test1')
    metrics = ('ood/AP', 'ood/FPR95', 'ood/AUROC')
    # 3 test frames on 2 ranks: the sampler pads rank 1 with a repeat, which must be dropped
    assert {k: two[k] for k in metrics} == {k: one[k] for k in metrics}


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_train_a_trainable_backbone(tmp_path):
    """The demo's stage 1 (backbone trained too) under DDP: parameters that never get a
    gradient (DINOv2's mask token) must not be trainable, or DDP stops at step 2."""
    data = make_data(tmp_path / 'data', num_train=4)
    iters = 3
    stage1 = write_config(tmp_path / 'stage1.py', data, max_iters=iters, ckpt_interval=iters,
                          batch_size=1, frozen=False)
    run_dist('dist_train.sh', stage1, 2, '--work-dir', tmp_path / 'w1', cwd=tmp_path)
    assert (tmp_path / 'w1' / f'iter_{iters}.pth').is_file()
