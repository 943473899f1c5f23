"""mmengine's own checkpoints reload under weights_only=True; nothing else is opened up."""
import io
import pickle
from pathlib import Path

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


# ------------------------------------------------- load_untrusted_checkpoint (Lightning files)
class _EasyDictLike(dict):
    """Attributes mirror items (easydict.EasyDict): pickles items + its __dict__."""

    def __setattr__(self, name, value):
        super().__setattr__(name, value)
        super().__setitem__(name, value)

    __setitem__ = __setattr__


class _AttributeDictLike(dict):
    """Lightning's AttributeDict: attribute access through __getattr__, no __dict__ state."""

    def __getattr__(self, name):
        return self[name]


class _Mismatched(dict):
    """A dict subclass whose pickled state is not its items: not an attribute dict."""

    def __init__(self):
        super().__init__(a=1)
        self.secret = 'x'


def test_attribute_dicts_are_read_as_plain_dicts_without_their_class(tmp_path):
    from mmseg_uem.utils.checkpoint import load_untrusted_checkpoint

    config = _EasyDictLike()
    config.MODEL = _EasyDictLike()
    config.MODEL.LAYERS = [1, 4, 8, 11]
    config.NAME = 'uem'
    path = tmp_path / 'a.ckpt'
    torch.save({'state_dict': {'w': torch.arange(3.0)}, 'hyper_parameters': config,
                'hparams': _AttributeDictLike(lr=5e-4)}, path)
    result = load_untrusted_checkpoint(str(path))
    assert result.content['hyper_parameters'] == {'MODEL': {'LAYERS': [1, 4, 8, 11]},
                                                  'NAME': 'uem'}
    assert type(result.content['hyper_parameters']) is dict
    assert type(result.content['hyper_parameters']['MODEL']) is dict
    assert result.content['hparams'] == {'lr': 5e-4}
    torch.testing.assert_close(result.content['state_dict']['w'], torch.arange(3.0))
    assert result.attribute_dicts == tuple(sorted(
        f'{__name__}.{c}' for c in ('_AttributeDictLike', '_EasyDictLike')))


class _WritesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker), ))


@pytest.mark.parametrize('payload', ['call', 'state', 'newobj_args'])
def test_anything_else_is_refused_and_never_runs(tmp_path, payload):
    from mmseg_uem.utils.checkpoint import load_untrusted_checkpoint

    marker = tmp_path / 'marker'
    obj = {'call': _WritesMarker(str(marker)), 'state': _Mismatched(),
           'newobj_args': Path(str(marker))}[payload]
    path = tmp_path / 'bad.ckpt'
    torch.save({'state_dict': {}, 'x': obj}, path)
    with pytest.raises(RuntimeError, match=r'refused to load checkpoint .*bad\.ckpt: refusing'):
        load_untrusted_checkpoint(str(path))
    assert not marker.exists()


def test_untrusted_reader_names_missing_and_foreign_files(tmp_path):
    from mmseg_uem.utils.checkpoint import load_untrusted_checkpoint

    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_untrusted_checkpoint(str(tmp_path / 'nope.pth'))
    text = tmp_path / 'notes.txt'
    text.write_text('not a checkpoint')
    with pytest.raises(RuntimeError, match=r'could not read checkpoint .*notes\.txt'):
        load_untrusted_checkpoint(str(text))
    listed = tmp_path / 'list.pth'
    torch.save([torch.ones(1)], listed)
    with pytest.raises(RuntimeError, match=r'list\.pth holds a list, not a dict'):
        load_untrusted_checkpoint(str(listed))
