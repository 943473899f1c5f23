"""The stage-1 hand-over: a checkpoint file or a stage-1 work dir, checked and loaded once."""
import pytest
import torch
from torch import nn

from mmseg_uem.models.segmentors.stage1 import (
    find_checkpoint,
    load_stage1,
    resolve_stage1_checkpoint,
)
from mmseg_uem.utils.checkpoint import CheckpointMismatchError


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Linear(3, 2)
        self.auxiliary_head = nn.Linear(2, 2)


def _work_dir(tmp_path, net, iters=(4, 8)):
    """A stage-1 work dir as mmengine's CheckpointHook leaves it: iter_N.pth files and
    ``last_checkpoint`` holding the absolute path of the last one."""
    work = tmp_path / 'stage1'
    work.mkdir()
    for it in iters:
        state = {k: v + it for k, v in net.state_dict().items()}
        torch.save({'meta': {'iter': it}, 'state_dict': state}, work / f'iter_{it}.pth')
    (work / 'last_checkpoint').write_text(str(work / f'iter_{iters[-1]}.pth'))
    return work


def test_work_dir_resolves_to_its_last_checkpoint_and_loads_the_stage1_prefixes(tmp_path):
    torch.manual_seed(0)
    source = _Net()
    work = _work_dir(tmp_path, source)
    assert resolve_stage1_checkpoint(str(work)) == str(work / 'iter_8.pth')
    net = _Net()
    aux_before = net.auxiliary_head.weight.clone()
    assert load_stage1(net, str(work), prefixes=('backbone.', )) == str(work / 'iter_8.pth')
    assert torch.equal(net.backbone.weight, source.backbone.weight + 8)
    assert torch.equal(net.backbone.bias, source.backbone.bias + 8)
    assert torch.equal(net.auxiliary_head.weight, aux_before)  # not a stage-1 module
    # a file works as before
    assert load_stage1(net, str(work / 'iter_4.pth'), prefixes=('backbone.', )) \
        == str(work / 'iter_4.pth')
    assert torch.equal(net.backbone.weight, source.backbone.weight + 4)


def test_moved_work_dir_finds_the_file_by_name(tmp_path):
    work = _work_dir(tmp_path, _Net())
    moved = tmp_path / 'elsewhere'
    work.rename(moved)  # last_checkpoint still names the old absolute path
    assert find_checkpoint(str(moved)) == str(moved / 'iter_8.pth')


def test_missing_or_empty_work_dir_says_how_to_train_stage1(tmp_path):
    empty = tmp_path / 'stage1'
    empty.mkdir()
    assert find_checkpoint(str(empty)) is None
    with pytest.raises(FileNotFoundError) as err:
        resolve_stage1_checkpoint(str(empty), stage1_config='configs/uem/x_stage1.py')
    message = str(err.value)
    assert f"model.stage1_checkpoint='{empty}', a work dir without a saved checkpoint" in message
    assert f'python tools/train.py configs/uem/x_stage1.py --work-dir {empty}' in message
    missing = tmp_path / 'nowhere' / 'iter_9.pth'
    with pytest.raises(FileNotFoundError, match='which does not exist') as err:
        resolve_stage1_checkpoint(str(missing))  # no stage-1 config named
    assert f'python tools/train.py CONFIG --work-dir {missing.parent}' in str(err.value)
    assert 'model-zoo file' in str(err.value)
    with pytest.raises(ValueError, match='stage=2 needs model.stage1_checkpoint'):
        resolve_stage1_checkpoint(None)


def test_bad_files_are_named(tmp_path):
    work = _work_dir(tmp_path, _Net(), iters=(2, ))
    cut = work / 'iter_2.pth'
    cut.write_bytes(cut.read_bytes()[:100])
    with pytest.raises(ValueError, match=f'stage-1 checkpoint {cut} is truncated'):
        resolve_stage1_checkpoint(str(work))
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.weight': torch.zeros(5, 5)}}, other)
    with pytest.raises(CheckpointMismatchError,
                       match=rf'stage-1 checkpoint {other} does not fit the stage-1 modules '
                             r'\(backbone\) of the model \(2 tensors\):\n  missing keys \(1\): '
                             r'backbone.bias\n  shape mismatches \(checkpoint vs model\) \(1\): '
                             r'backbone.weight \(5, 5\) vs model'):
        load_stage1(_Net(), str(other), prefixes=('backbone.', ))
