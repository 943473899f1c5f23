"""The shell launchers as a user runs them: the project's python given in ``PYTHON``, not on
PATH (no activated environment), and ``tools/train_two_stage.sh`` with options for each stage.

Stage 1 must get only its own options (a stage-2 ``model.auxiliary_head`` option would break
the stage-1 model) and must be trained where the stage-2 config, with the stage-2 options
applied, will look for it.
"""
import pytest
from rel_utils import make_data, read_metrics, run_shell, write_config


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_stage_launcher_per_stage_options_and_dist_test(tmp_path):
    data = make_data(tmp_path / 'data', num_train=2, coco=True, road_anomaly=2)
    stage1 = write_config(tmp_path / 'stage1.py', data, max_iters=4, ckpt_interval=2)
    stage2 = write_config(tmp_path / 'stage2.py', data, stage=2, max_iters=2,
                          stage1=str(tmp_path / 'default' / 'iter_4.pth'))
    with open(stage2, 'a') as f:
        f.write(f'stage1_config = {str(stage1)!r}\n')
    moved = tmp_path / 's1' / 'iter_2.pth'
    proc = run_shell('train_two_stage.sh', stage2, 1,
                     '--stage1', '--cfg-options', 'train_cfg.max_iters=2',
                     '--stage2', '--cfg-options', f'model.stage1_checkpoint={moved}',
                     'model.auxiliary_head.alpha=0.25', '--work-dir', tmp_path / 's2',
                     cwd=tmp_path)
    assert f'[two-stage] stage 1: {stage1} -> {moved}' in proc.stdout
    assert moved.is_file() and not (tmp_path / 'default').exists()
    dumped1 = (tmp_path / 's1' / 'stage1.py').read_text()
    dumped2 = (tmp_path / 's2' / 'stage2.py').read_text()
    assert 'auxiliary_head' not in dumped1 and 'max_iters=2' in dumped1.replace(' ', '')
    assert 'alpha=0.25' in dumped2.replace(' ', '')
    ckpt = tmp_path / 's2' / 'iter_2.pth'
    assert ckpt.is_file()

    # a second run finds the stage-1 checkpoint and trains stage 2 only
    proc = run_shell('train_two_stage.sh', stage2, 1, '--stage2', '--cfg-options',
                     f'model.stage1_checkpoint={moved}', '--work-dir', tmp_path / 's2b',
                     cwd=tmp_path)
    assert f'[two-stage] stage 1: found {moved}' in proc.stdout

    run_shell('dist_test.sh', stage2, ckpt, 2, '--work-dir', tmp_path / 'test', cwd=tmp_path)
    assert 'ood/AP' in read_metrics(tmp_path / 'test')
