"""Tiny stock mmseg segmentors, stated through mmseg's own model primitives.

Each is the ``model`` of ``configs/_base_/models/mmseg/*.py`` (unchanged copies of
mmseg 1.2.2's shipped files) with its widths and depths shrunk, BN instead of SyncBN (one
process) and no ImageNet weights, so tests build and run them on a CPU in milliseconds.
:func:`uem_cfg` turns one into the stage-2 ``UEMEncoderDecoder`` config that
docs/en/user_guides/5_uem_on_your_model.md ("Add a UEM to your own mmseg model")
describes. Reads config files only (no mmseg import).
"""
import copy
import os.path as osp
from typing import Optional

#: the copies of mmseg's model primitives
PRIMITIVES = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                      'configs', '_base_', 'models', 'mmseg')
BN = dict(type='BN', requires_grad=True)

#: the training crops of the tests (mmseg's configs set data_preprocessor.size = crop)
CROP = (48, 64)
# family -> (primitive file, overrides of its model, channels of the backbone's last map)
_TINY = {
    'segformer': ('segformer_mit-b0.py', dict(
        backbone=dict(embed_dims=8, num_layers=[1, 1, 1, 1], drop_path_rate=0.0),
        decode_head=dict(in_channels=[8, 16, 40, 64], channels=16, norm_cfg=BN)), 64),
    'deeplabv3plus': ('deeplabv3plus_r50-d8.py', dict(
        pretrained=None,
        backbone=dict(depth=18, stem_channels=8, base_channels=8, norm_cfg=BN),
        decode_head=dict(in_channels=64, c1_in_channels=8, channels=16, c1_channels=4,
                         norm_cfg=BN),
        auxiliary_head=dict(in_channels=32, channels=8, norm_cfg=BN)), 64),
}


def stock_cfg(family: str, *, num_classes: int = 3):
    """The tiny stock ``EncoderDecoder`` config of ``family`` ('segformer', 'deeplabv3plus')."""
    from mmengine.config import Config

    if family not in _TINY:
        raise ValueError(f'unknown stock family {family!r}; known: {sorted(_TINY)}')
    primitive, overrides, _ = _TINY[family]
    cfg = Config.fromfile(osp.join(PRIMITIVES, primitive))
    heads = {head: dict(num_classes=num_classes) for head in ('decode_head', 'auxiliary_head')
             if cfg.model.get(head)}
    cfg.merge_from_dict(dict(model=overrides))
    cfg.merge_from_dict(dict(model=dict(heads, data_preprocessor=dict(size=CROP))))
    return copy.deepcopy(cfg.model)  # a ConfigDict: mmseg reads test_cfg.mode by attribute


def uem_cfg(family: str, stage1_checkpoint: Optional[str], *, num_classes: int = 3,
            classifier: str = 'linear', **uem) -> dict:
    """Stage 2 on the tiny stock model: same config, type ``UEMEncoderDecoder``, the stock
    auxiliary head (a training-time loss) replaced by the UEM; ``uem`` overrides its
    settings (default: the backbone's last map, ``in_index=-1``)."""
    cfg = copy.deepcopy(stock_cfg(family, num_classes=num_classes))
    cfg.update(type='UEMEncoderDecoder', stage=2, stage1_checkpoint=stage1_checkpoint)
    gmm = classifier == 'gmm'
    cfg['auxiliary_head'] = dict(
        type='UEMHead', in_channels=_TINY[family][2], in_index=-1, mlp_channels=(16, 16, 8),
        classifier=classifier, num_inlier_classes=num_classes, outlier_index=254,
        ignore_index=255, alpha=0.5 if gmm else 0.0,
        gmm_cfg=dict(num_components=2, memory_size=12, max_sample_per_component=4,
                     update_interval=1) if gmm else None)
    cfg['auxiliary_head'].update(uem)
    return cfg
