"""mmengine's own checkpoints reload under weights_only=True; nothing else is opened up."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmseg_uem  # noqa: F401  (calls allow_mmengine_checkpoints)
from mmseg_uem.utils.checkpoint import _history_buffer_getattr


def test_message_hub_round_trip(tmp_path):
    hub = MessageHub.get_instance('test_ckpt_hub')
    for v in (1.0, 2.5, 4.0):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 7)
    path = tmp_path / 'ckpt.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': np.int64(3)},
                'arr': np.arange(4, dtype=np.float32)}, path)
    loaded = torch.load(path, weights_only=True)
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(2.5)
    assert buf.current() == 4.0
    np.testing.assert_array_equal(loaded['arr'], np.arange(4, dtype=np.float32))


class _Evil:
    def __reduce__(self):
        return (eval, ('1 + 1', ))


def test_arbitrary_objects_still_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


def test_restricted_getattr():
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        _history_buffer_getattr(io, 'open')
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__init__')
