"""The checkpoint API: mmengine's own checkpoints reload under weights_only=True and nothing
else is opened up; one reader for every form we accept; one matcher and one error."""
import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmseg_uem  # noqa: F401  (calls allow_mmengine_checkpoints)
from mmseg_uem.utils.checkpoint import CheckpointReadError, read_checkpoint
from mmseg_uem.utils.safe_pickle import _history_buffer_getattr, load_untrusted_checkpoint


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
    marker = tmp_path / 'marker'
    obj = {'call': _WritesMarker(str(marker)), 'state': _Mismatched(),
           'newobj_args': Path(str(marker))}[payload]
    path = tmp_path / 'bad.ckpt'
    torch.save({'state_dict': {}, 'x': obj}, path)
    with pytest.raises(CheckpointReadError,
                       match=r'refused to load checkpoint .*bad\.ckpt: refusing'):
        read_checkpoint(str(path), attribute_dicts=True)
    assert not marker.exists()


def test_reader_names_missing_and_foreign_files(tmp_path):
    for attribute_dicts in (True, False):
        with pytest.raises(FileNotFoundError, match='checkpoint .*nope.pth does not exist'):
            read_checkpoint(str(tmp_path / 'nope.pth'), attribute_dicts=attribute_dicts)
        text = tmp_path / 'notes.txt'
        text.write_text('not a checkpoint')
        with pytest.raises(CheckpointReadError,
                           match=r'checkpoint .*notes\.txt is truncated or not a torch'):
            read_checkpoint(str(text), attribute_dicts=attribute_dicts)
        listed = tmp_path / 'list.pth'
        torch.save([torch.ones(1)], listed)
        with pytest.raises(CheckpointReadError, match=r'list\.pth holds a list, not a dict'):
            read_checkpoint(str(listed), attribute_dicts=attribute_dicts)


# ------------------------------------------------------------- read_checkpoint, every form
def test_reader_reads_every_accepted_form(tmp_path):
    from mmseg_uem.utils.checkpoint import read_state_dict

    weights = {'backbone.w': torch.arange(4.0), 'decode_head.b': torch.ones(2)}
    hub = MessageHub.get_instance('test_ckpt_reader')
    hub.update_scalar('train/loss', 1.5)
    forms = {
        'bare.pth': weights,
        'mmengine.pth': {'meta': {'seed': np.int64(3)}, 'state_dict': weights,
                         'message_hub': hub.state_dict()},
        'ddp.pth': {'state_dict': {f'module.{k}': v for k, v in weights.items()}},
    }
    for name, content in forms.items():
        torch.save(content, tmp_path / name)
        state = read_state_dict(str(tmp_path / name))
        assert sorted(state) == sorted(weights), name
        for key, value in weights.items():
            torch.testing.assert_close(state[key], value)
    assert read_checkpoint(str(tmp_path / 'mmengine.pth'))['meta'] == {'seed': 3}


def test_reader_refuses_code_and_broken_files_naming_them(tmp_path):
    marker = tmp_path / 'marker'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _WritesMarker(str(marker))}, evil)
    with pytest.raises(CheckpointReadError, match=r'refused to load stage-1 checkpoint '
                       r'.*evil\.pth: .*weights_only.*GLOBAL pathlib'):
        read_checkpoint(str(evil), what='stage-1 checkpoint')
    assert not marker.exists()
    cut = tmp_path / 'cut.pth'
    torch.save({'w': torch.zeros(100)}, cut)
    cut.write_bytes(cut.read_bytes()[:200])
    with pytest.raises(CheckpointReadError, match=r'DINOv2 checkpoint .*cut\.pth is truncated'):
        read_checkpoint(str(cut), what='DINOv2 checkpoint')
    assert issubclass(CheckpointReadError, ValueError)


# ------------------------------------------------------------ match_state_dict, one message
def _t(*shape):
    return torch.zeros(*shape)


_STAGE1 = {'backbone.cls_token': _t(1, 1, 32), 'backbone.blocks.0.w': _t(32),
           'decode_head.conv_seg.weight': _t(3, 32)}
_STAGE2 = dict(_STAGE1, **{'auxiliary_head.projector.weight': _t(8, 32)})


def _mismatch(expected, given, **kwargs):
    from mmseg_uem.utils.checkpoint import CheckpointMismatchError, match_state_dict

    with pytest.raises(CheckpointMismatchError) as err:
        match_state_dict(expected, given, checkpoint='f.pth', target='the model of c.py',
                         **kwargs)
    return err.value


def test_mismatch_message_format_worked_by_hand():
    err = _mismatch(dict(_STAGE1, **{'neck.w': _t(2)}), dict(_STAGE1, extra=_t(1)))
    assert str(err) == (
        'checkpoint f.pth does not fit the model of c.py (4 tensors):\n'
        '  missing keys (1): neck.w\n'
        '  unexpected keys (1): extra')
    assert isinstance(err, ValueError)
    assert (err.missing, err.unexpected, err.bad_shapes, err.hints) == (
        ['neck.w'], ['extra'], [], [])


@pytest.mark.parametrize('expected,given,hint', [
    (_STAGE2, _STAGE1, 'the file has no UEM (auxiliary_head): a stage-1 checkpoint given to '
                       'a stage-2 model'),
    (_STAGE1, _STAGE2, 'the file has a UEM (auxiliary_head): a stage-2 checkpoint given to a '
                       'stage-1 model'),
    (_STAGE1, {'cls_token': _t(1, 1, 32), 'blocks.0.w': _t(32)},
     'no key of the file belongs to the model: bare backbone weights'),
    (_STAGE1, {**{k: v for k, v in _STAGE1.items() if 'decode' not in k},
               'decode_head.classifier.weight': _t(3, 32)}, 'another model variant'),
    (_STAGE1, dict(_STAGE1, **{'backbone.cls_token': _t(1, 1, 48)}),
     "the checkpoint's embedding dim is 48, the model's 32"),
    (_STAGE1, dict(_STAGE1, **{'backbone.blocks.1.w': _t(32)}),
     'the checkpoint has 2 blocks, the model 1'),
    ({'cls_token': _t(1, 1, 32)}, {'cls_token': _t(1, 1, 32), 'register_tokens': _t(1, 4, 32)},
     'the checkpoint has register tokens: use a "_reg" arch'),
])
def test_mismatch_hints(expected, given, hint):
    err = _mismatch(expected, given)
    assert f'\n  hint: {hint}' in str(err)


def test_shape_mismatches_and_allowed_unexpected_keys():
    from mmseg_uem.utils.checkpoint import match_state_dict

    match_state_dict(_STAGE1, _STAGE2, checkpoint='f.pth', target='t', allow_unexpected=True)
    given = dict(_STAGE2, **{'decode_head.conv_seg.weight': _t(4, 32)})
    err = _mismatch(_STAGE1, given, allow_unexpected=True, what='stage-1 checkpoint',
                    advice='an option')
    assert str(err).startswith('stage-1 checkpoint f.pth does not fit the model of c.py '
                               '(3 tensors):\n  unexpected keys (1): auxiliary_head.projector'
                               '.weight\n  shape mismatches (checkpoint vs model) (1): '
                               'decode_head.conv_seg.weight (4, 32) vs model (3, 32)\n')
    assert str(err).endswith('\n  (an option)')
