"""The stage-1 -> stage-2 hand-over: where the stage-1 checkpoint is, and loading it.

``model.stage1_checkpoint`` of a stage-2 config is a checkpoint file or the work dir of the
stage-1 run (resolved to the checkpoint that run saved last, by mmengine's own
``find_latest_checkpoint``), so no config names an iteration. :func:`resolve_stage1_checkpoint`
is the one check, used by the tools' pre-flight (:func:`check_stage1_checkpoint`, before the
Runner starts) and by :func:`load_stage1` (``UEMEncoderDecoder.init_weights``), with one
message. Where a stage-2 config takes its stage 1 from is read by :func:`stage1_handover`
alone (for ``tools/train.py --stage1-info`` and ``tools/train_two_stage.sh`` too).
"""
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.runner import find_latest_checkpoint
from torch import Tensor, nn

from ...utils.checkpoint import check_checkpoint_file, match_state_dict, read_state_dict


def _missing(path: Optional[str], stage1_config: Optional[str], why: str,
             needed_by: str) -> FileNotFoundError:
    work_dir = path if path and osp.isdir(path) else osp.dirname(path or '') or 'DIR'
    head = f'{needed_by} needs the stage-1 checkpoint model.stage1_checkpoint={path!r}, {why}'
    if stage1_config is None:  # no stage-1 config named: ours, or a stock model's release
        return FileNotFoundError(
            f'{head}: the trained model the UEM is added to (for a stock mmseg model, the '
            "model-zoo file named in the config's comments: download it there; for a model of "
            'this project, train the matching configs/uem/*_stage1_* config: python '
            f'tools/train.py CONFIG --work-dir {work_dir}), or --cfg-options '
            'model.stage1_checkpoint=PATH')
    return FileNotFoundError(
        f'{head}. Train stage 1 first:\n'
        f'    python tools/train.py {stage1_config} --work-dir {work_dir}\n'
        f'or run both stages with: bash tools/train_two_stage.sh <this config>\n'
        f'or point to an existing checkpoint: --cfg-options model.stage1_checkpoint=PATH')


def find_checkpoint(path: str) -> Optional[str]:
    """The checkpoint file that ``path`` (a file, or a run's work dir) designates, or None
    if there is none yet. A work dir's ``last_checkpoint`` holds an absolute path; if the
    dir was moved, the file of that name inside ``path`` is taken."""
    if not osp.isdir(path):
        return path if osp.isfile(path) else None
    last = find_latest_checkpoint(path)
    if last is None:
        return None
    if osp.isfile(last):
        return last
    moved = osp.join(path, osp.basename(last))
    return moved if osp.isfile(moved) else None


def resolve_stage1_checkpoint(path: Optional[str], *, stage1_config: Optional[str] = None,
                              needed_by: str = 'stage 2') -> str:
    """Check ``model.stage1_checkpoint`` and return the checkpoint file it designates.

    Args:
        path: a checkpoint file or a stage-1 work dir.
        stage1_config: the config that trains stage 1, named in the error.
        needed_by: what needs the checkpoint, named in the error ('stage 2', or
            'fine-tuning' for a stage-1 run started from it).

    Raises:
        ValueError: ``path`` is None, or the file is truncated / not a torch checkpoint.
        FileNotFoundError: no such file, or a work dir without a saved checkpoint; the
            message says how to train stage 1.
    """
    if path is None:
        raise ValueError('stage=2 needs model.stage1_checkpoint: the checkpoint (or the work '
                         'dir) of the stage-1 run (train the matching '
                         'configs/uem/*_stage1_*.py config first)')
    found = find_checkpoint(path)
    if found is None:
        why = ('a work dir without a saved checkpoint (no last_checkpoint file, or the file it '
               'names is gone)' if osp.isdir(path) else 'which does not exist')
        raise _missing(path, stage1_config, why, needed_by)
    check_checkpoint_file(found, what='stage-1 checkpoint')
    return found


def stage1_state_dict(path: str, own: Dict[str, Tensor], *,
                      prefixes: Sequence[str]) -> Tuple[Dict[str, Tensor], list]:
    """The tensors of ``own`` (name -> tensor) read from the stage-1 checkpoint ``path``, and
    the top-level names of the checkpoint's entries outside ``prefixes`` (e.g. a stock
    model's auxiliary head: a training-time loss, not part of stage 1).

    Read by :func:`~mmseg_uem.utils.checkpoint.read_checkpoint` (errors name the file);
    every key of ``own`` must be in the file with its shape, else a
    :class:`~mmseg_uem.utils.checkpoint.CheckpointMismatchError`. Other keys of the file
    (stage 2's UEM, a stock auxiliary head) are not read."""
    state = read_state_dict(path, what='stage-1 checkpoint')
    match_state_dict(own, state, checkpoint=path, what='stage-1 checkpoint',
                     target=f'the stage-1 modules ({", ".join(p.rstrip(".") for p in prefixes)}) '
                     'of the model', allow_unexpected=True, within=prefixes)
    unread = sorted({k.split('.')[0] for k in state if not k.startswith(tuple(prefixes))})
    return {k: state[k] for k in own}, unread


def stage1_prefixes(model: nn.Module) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """(prefixes, exclude) of the state-dict names a segmentor reads from its stage-1
    checkpoint: backbone, neck and decode head, without the parameters a head adds to a
    stage-1 network for fine-tuning (its ``stage1_missing_prefixes``, PEBAL's abstention)."""
    prefixes = ('backbone.', 'decode_head.') + (('neck.', ) if model.with_neck else ())
    exclude = tuple('decode_head.' + p
                    for p in getattr(model.decode_head, 'stage1_missing_prefixes', ()))
    return prefixes, exclude


def load_stage1(model: nn.Module, path: Optional[str], *,
                prefixes: Optional[Sequence[str]] = None,
                exclude: Optional[Sequence[str]] = None) -> str:
    """Load the parameters and buffers of ``model`` under ``prefixes`` (default
    :func:`stage1_prefixes`: the stage-1 modules) from ``path`` (a file or a stage-1 work
    dir); returns the file read. Nothing else of ``model`` changes; names under ``exclude``
    are not read."""
    if prefixes is None:
        prefixes, default_exclude = stage1_prefixes(model)
        exclude = default_exclude if exclude is None else exclude
    ckpt = resolve_stage1_checkpoint(path)
    exclude = tuple(exclude or ())
    own = {k: v for k, v in model.state_dict().items()
           if k.startswith(tuple(prefixes)) and not (exclude and k.startswith(exclude))}
    state, unread = stage1_state_dict(ckpt, own, prefixes=prefixes)
    model.load_state_dict(state, strict=False)
    print_log(f'loaded stage 1 ({len(own)} tensors) from {ckpt}'
              + (f'; not read: {unread}' if unread else ''), logger='current')
    return ckpt


# ------------------------------------------------------------ the tools' side of the hand-over
def stage1_handover(cfg: Config) -> Optional[Tuple[str, Optional[str]]]:
    """(stage-1 checkpoint, stage-1 config or None) of a stage-2 config, read from the
    merged ``cfg`` (``--cfg-options`` applied); None for any other config.

    The one place that reads where a stage-2 run takes its stage 1 from: the pre-flight
    check below and ``tools/train_two_stage.sh`` (through :func:`stage1_info`) use it."""
    model = cfg.get('model', {})
    if model.get('type') != 'UEMEncoderDecoder' or model.get('stage', 1) != 2:
        return None
    if cfg.get('load_from'):  # a complete stage-2 checkpoint holds stage 1 too
        return cfg.load_from, cfg.get('stage1_config', None)
    return model.get('stage1_checkpoint'), cfg.get('stage1_config', None)


def check_stage1_checkpoint(cfg: Config) -> None:
    """Fail before any training when the stage-1 checkpoint of a stage-2 config
    (:func:`stage1_handover`) or of a fine-tuning run is missing or unreadable, saying which
    checkpoint and which config (``stage1_config``) produces it
    (:func:`resolve_stage1_checkpoint`, the check that :func:`load_stage1` makes again when
    ``UEMEncoderDecoder.init_weights`` loads the file).

    With ``load_from`` set on a stage-2 config (a converted official OoD model, or a stage-2
    checkpoint of this project) stage 1 is read from that file: the Runner loads it over the
    whole model after ``init_weights`` anyway, so no separate stage-1 file is needed.
    """
    handover = stage1_handover(cfg)
    if handover is not None:
        if cfg.get('load_from'):
            check_checkpoint_file(cfg.load_from, what='load_from checkpoint')
            cfg.model['stage1_checkpoint'] = cfg.load_from
            return
        (path, stage1), needed_by = handover, 'stage 2'
    else:  # a stage-1 run started from a stage-1 checkpoint (Table 4's fine-tuning)
        model = cfg.get('model', {})
        if model.get('type') != 'UEMEncoderDecoder' or model.get('stage1_checkpoint') is None:
            return
        path, stage1, needed_by = model['stage1_checkpoint'], cfg.get('stage1_config'), \
            'fine-tuning'
    resolve_stage1_checkpoint(path, stage1_config=stage1, needed_by=needed_by)


def stage1_info(cfg: Config, *, config: str) -> str:
    """The line ``tools/train.py --stage1-info`` prints for ``tools/train_two_stage.sh``:
    ``STAGE1<TAB>stage-1 config<TAB>model.stage1_checkpoint<TAB>its work dir<TAB>the
    checkpoint found there or -``; ``config`` (the stage-2 config file) is named in the
    error when ``cfg`` is not a stage-2 config naming both."""
    handover = stage1_handover(cfg)
    if handover is None or not all(handover):
        raise SystemExit(f'{config} is not a stage-2 config with model.stage1_checkpoint and '
                         'stage1_config')
    path, stage1_config = handover
    # a work dir, or the folder of a checkpoint file
    work_dir = path if osp.isdir(path) or not osp.splitext(path)[1] else osp.dirname(path)
    return f'STAGE1\t{stage1_config}\t{path}\t{work_dir}\t{find_checkpoint(path) or "-"}'
