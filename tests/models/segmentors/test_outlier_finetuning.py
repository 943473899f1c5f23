"""Table 4 fine-tuning: RbA / PEBAL retrain part of a stage-1 D network from its checkpoint.

Tiny models on CPU (the factories of test_uem_encoder_decoder.py): checks what is loaded,
what trains, what stays bitwise unchanged, and that the outlier losses see the outliers.
"""
import pytest
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmseg.models.utils import resize
from test_uem_encoder_decoder import (
    CLASSES,
    OUTLIER,
    VOID,
    build,
    grad_step,
    images,
    inlier_outputs,
    model_cfg,
    train_batch,
)

from mmseg_uem.models.losses import RbAOutlierLoss
from mmseg_uem.models.segmentors.stage1 import check_stage1_checkpoint
from mmseg_uem.utils.checkpoint import CheckpointMismatchError

CE = dict(type='CrossEntropyLoss', loss_weight=1.0, avg_non_ignore=True)
RBA = dict(type='RbAOutlierLoss', outlier_index=OUTLIER)
PEBAL = [dict(type='PEBALAbstentionLoss', num_classes=CLASSES, outlier_index=OUTLIER),
         dict(type='PEBALEnergyLoss', num_classes=CLASSES, outlier_index=OUTLIER)]


def finetune_cfg(ckpt, trainable, head='LinearDecoderHead', losses=(CE, RBA), **kw):
    cfg = model_cfg('LinearDecoderHead', stage1_checkpoint=str(ckpt),
                    trainable_modules=trainable, **kw)
    cfg['decode_head'].update(type=head, loss_decode=list(losses))
    return cfg


@pytest.fixture(scope='module')
def stage1(tmp_path_factory):
    """A D stage-1 model after one training step, and its checkpoint file."""
    model = build(model_cfg('LinearDecoderHead'), seed=0)
    model.train()
    model.train_step(train_batch(seed=3),
                     OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2)))
    path = tmp_path_factory.mktemp('stage1') / 'stage1.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return model, path


def _params(module) -> dict:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def test_rba_finetune_trains_the_classifier_only(stage1):
    ref, ckpt = stage1
    model = build(finetune_cfg(ckpt, ['decode_head.conv_seg']), seed=1)
    model.init_weights()
    probe = images()
    assert all(torch.equal(a, b) for a, b in zip(inlier_outputs(model, probe),
                                                 inlier_outputs(ref, probe)))
    model.train()
    assert not model.backbone.training and not model.decode_head.decoder.training
    assert model.decode_head.conv_seg.training
    before = _params(model)
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-2))
    losses = grad_step(model, wrapper, train_batch())
    assert {'decode.loss_ce', 'decode.loss_rba'} <= set(losses)
    assert losses['decode.loss_rba'] > 0
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {'decode_head.conv_seg.weight', 'decode_head.conv_seg.bias'}
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.decode_head.conv_seg.parameters())
    wrapper.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == trainable
    # the inlier predictions change: the cost UEM does not pay
    assert not torch.equal(inlier_outputs(model, probe)[0], inlier_outputs(ref, probe)[0])


def test_pebal_finetune_adds_an_abstention_channel_and_trains_the_head(stage1):
    ref, ckpt = stage1
    model = build(finetune_cfg(ckpt, ['decode_head'], head='AbstentionLinearHead',
                               losses=PEBAL), seed=1)
    model.init_weights()  # every key but conv_abstain comes from the D checkpoint
    probe = images()
    logits, pred = inlier_outputs(model, probe)
    ref_logits, ref_pred = inlier_outputs(ref, probe)
    assert logits.shape[1] == CLASSES  # the abstention channel is not a class
    assert torch.equal(logits, ref_logits) and torch.equal(pred, ref_pred)
    model.train()
    backbone = _params(model.backbone)
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-3))
    losses = grad_step(model, wrapper, train_batch())
    assert {'decode.loss_abstention', 'decode.loss_energy'} <= set(losses)
    assert all(torch.isfinite(v).all() for v in losses.values())
    for name, p in model.decode_head.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert model.decode_head.conv_abstain.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.backbone.parameters())
    wrapper.step()
    assert all(torch.equal(p, backbone[n]) for n, p in model.backbone.named_parameters())


def test_outlier_losses_get_the_outlier_labels(stage1):
    _, ckpt = stage1
    model = build(finetune_cfg(ckpt, ['decode_head.conv_seg']), seed=1)
    model.init_weights()
    data = model.data_preprocessor(train_batch(), True)
    feats = model.extract_feat(data['inputs'])
    losses = model.decode_head.loss(feats, data['data_samples'], None)
    labels = torch.stack([s.gt_sem_seg.data[0] for s in data['data_samples']])
    assert (labels == OUTLIER).any() and (labels == VOID).any()
    logits = resize(model.decode_head.forward(feats), size=labels.shape[1:], mode='bilinear',
                    align_corners=False)
    torch.testing.assert_close(losses['loss_rba'], RbAOutlierLoss()(logits, labels))
    # the same loss with the outliers hidden (as the CE sees them) is another number
    hidden = labels.masked_fill(labels == OUTLIER, VOID)
    assert not torch.allclose(losses['loss_rba'], RbAOutlierLoss()(logits, hidden))


def test_finetune_config_errors(stage1, tmp_path):
    _, ckpt = stage1
    with pytest.raises(ValueError, match=r"\['decode_head.nothing'\] are not modules"):
        build(finetune_cfg(ckpt, ['decode_head.nothing']))
    with pytest.raises(ValueError, match='trainable_modules is for stage 1'):
        build(model_cfg('LinearDecoderHead', 'linear', stage=2, stage1_checkpoint=str(ckpt),
                        trainable_modules=['auxiliary_head']))
    with pytest.raises(ValueError, match='differs from the head outlier_index'):
        build(finetune_cfg(ckpt, ['decode_head'], losses=(CE, dict(RBA, outlier_index=200))))
    # the abstention head refuses to load anything but its own new channel from nowhere
    other = build(model_cfg('GMMHead'))
    path = tmp_path / 'gmm.pth'
    torch.save({'state_dict': other.state_dict()}, path)
    model = build(finetune_cfg(path, ['decode_head'], head='AbstentionLinearHead',
                               losses=PEBAL))
    with pytest.raises(CheckpointMismatchError, match='decode_head.conv_seg'):
        model.init_weights()
    # the train tool's pre-flight: a fine-tuning config without its stage-1 checkpoint
    cfg = Config(dict(model=finetune_cfg(tmp_path / 'missing.pth', ['decode_head']),
                      stage1_config='configs/uem/dinov2_d_stage1_cityscapes.py'))
    with pytest.raises(FileNotFoundError, match='fine-tuning needs the stage-1 checkpoint'):
        check_stage1_checkpoint(cfg)
