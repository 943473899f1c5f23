import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config

from mmseg_uem.apis.cli import apply_eval_metrics, enable_anomaly_outputs

ROOT = Path(__file__).resolve().parents[2]


def _cfg(**kw):
    return Config(dict(test_evaluator=dict(type='OoDMetric', ood_metrics=['AP'],
                                           min_pred_size=50), **kw))


def test_eval_selects_ood_and_iou_metrics():
    cfg = _cfg()
    apply_eval_metrics(cfg, ['AP', 'FPR95', 'mIoU'])
    ood, iou = cfg.test_evaluator
    assert ood.type == 'OoDMetric' and ood.ood_metrics == ['AP', 'FPR95']
    assert ood.min_pred_size == 50  # config arguments survive
    assert iou.type == 'IoUMetric' and iou.iou_metrics == ['mIoU']


def test_eval_only_ood_gives_single_evaluator():
    cfg = Config(dict(test_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU'])))
    apply_eval_metrics(cfg, ['AUROC'])
    assert cfg.test_evaluator.type == 'OoDMetric'
    assert cfg.test_evaluator.ood_metrics == ['AUROC']


def test_eval_unknown_metric_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown --eval metric\(s\) \['AP50'\].*FPR95"):
        apply_eval_metrics(_cfg(), ['AP', 'AP50'])


def test_show_dir_and_out_add_one_hook(tmp_path):
    cfg = _cfg(custom_hooks=[dict(type='AnomalyVisualizationHook', draw=False)])
    enable_anomaly_outputs(cfg, show_dir=str(tmp_path / 'vis'), out_dir=str(tmp_path / 'maps'))
    hooks = [h for h in cfg.custom_hooks if h['type'] == 'AnomalyVisualizationHook']
    assert len(hooks) == 1
    assert hooks[0]['draw'] and hooks[0]['show_dir'].endswith('vis')
    assert hooks[0]['out_dir'].endswith('maps')


def test_show_dir_keeps_the_config_hook_settings(tmp_path):
    cfg = _cfg(custom_hooks=[dict(type='AnomalyVisualizationHook', cmap='gray',
                                  score_range=(-15, 5), interval=3)])
    enable_anomaly_outputs(cfg, show_dir=str(tmp_path / 'vis'))
    (hook, ) = cfg.custom_hooks
    assert hook.draw and hook.cmap == 'gray' and tuple(hook.score_range) == (-15, 5)
    assert hook.interval == 3 and 'out_dir' not in hook
    enable_anomaly_outputs(cfg, show_dir=str(tmp_path / 'vis'), score_range=(-1, 2),
                           threshold='0.5')
    (hook, ) = cfg.custom_hooks
    assert hook.score_range == (-1.0, 2.0) and hook.threshold == '0.5' and hook.cmap == 'gray'
    with pytest.raises(ValueError, match='--show-dir'):
        enable_anomaly_outputs(_cfg(), score_range=(0, 1))


def test_operating_point_requested_only_with_fpr95(tmp_path):
    from mmseg_uem.apis.cli import request_operating_point

    cfg = _cfg()  # AP only
    assert not request_operating_point(cfg, str(tmp_path / 'op.json'))
    apply_eval_metrics(cfg, ['AP', 'FPR95', 'mIoU'])
    assert request_operating_point(cfg, str(tmp_path / 'op.json'))
    ood, iou = cfg.test_evaluator
    assert ood.operating_point_file == str(tmp_path / 'op.json')
    assert 'operating_point_file' not in iou


def test_unlabelled_split_predicts_only_with_outputs():
    from mmseg_uem.apis.cli import predict_without_labels

    def cfg():
        pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadOoDAnnotations'),
                    dict(type='PackSegInputs')]
        tta = [dict(type='LoadImageFromFile'),
               dict(type='TestTimeAug', transforms=[[dict(type='RandomFlip', prob=0.)],
                                                    [dict(type='LoadOoDAnnotations')],
                                                    [dict(type='PackSegInputs')]])]
        return _cfg(test_dataloader=dict(dataset=dict(type='SMIYCDataset', pipeline=pipeline)),
                    tta_pipeline=tta)

    with pytest.raises(ValueError, match=r'2 of 5 test images have no labels \(a.jpg, b.jpg\)'
                                         '.*--out'):
        predict_without_labels(cfg(), ['a.jpg', 'b.jpg'], num_images=5, predicting=False)
    unchanged = cfg()
    predict_without_labels(unchanged, [], num_images=5, predicting=False)
    assert unchanged.test_evaluator.type == 'OoDMetric'
    predicting = cfg()
    predict_without_labels(predicting, ['a.jpg'], num_images=1, predicting=True)
    assert predicting.test_evaluator == []
    types = [t['type'] for t in predicting.test_dataloader.dataset.pipeline]
    assert types == ['LoadImageFromFile', 'PackSegInputs']
    branches = predicting.tta_pipeline[1]['transforms']
    assert [[t['type'] for t in b] for b in branches] == [['RandomFlip'], ['PackSegInputs']]


def test_test_py_rejects_unknown_eval_name(tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text('model = dict()\n')
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'tools' / 'test.py'), str(cfg), 'none.pth', '--eval',
         'AP', 'bogus'], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode != 0
    assert "unknown --eval metric(s) ['bogus']" in proc.stderr
    assert 'FPR95' in proc.stderr


def test_stage2_without_stage1_checkpoint_names_file_and_config(tmp_path):
    from mmseg_uem.models.segmentors.stage1 import check_stage1_checkpoint

    missing = tmp_path / 'stage1' / 'iter_90000.pth'
    cfg = Config(dict(model=dict(type='UEMEncoderDecoder', stage=2,
                                 stage1_checkpoint=str(missing)),
                      stage1_config='configs/uem/dinov2_g_stage1_cityscapes.py'))
    with pytest.raises(FileNotFoundError) as err:
        check_stage1_checkpoint(cfg)
    assert str(missing) in str(err.value)
    assert 'python tools/train.py configs/uem/dinov2_g_stage1_cityscapes.py' in str(err.value)
    missing.parent.mkdir()
    missing.write_bytes(b'x')
    with pytest.raises(ValueError, match='truncated or not a torch checkpoint'):
        check_stage1_checkpoint(cfg)  # present but not a checkpoint
    torch.save({'state_dict': {}}, missing)
    check_stage1_checkpoint(cfg)  # present: no error
    check_stage1_checkpoint(Config(dict(model=dict(type='UEMEncoderDecoder', stage=1))))
    # a stock mmseg model's checkpoint: download it, there is no stage-1 config to train
    stock = Config.fromfile(str(ROOT / 'configs' / 'uem' / 'segformer_mit-b5_dd_cityscapes.py'))
    stock.model.stage1_checkpoint = str(tmp_path / 'zoo.pth')
    with pytest.raises(FileNotFoundError, match=r'zoo\.pth.*model-zoo file.*download'):
        check_stage1_checkpoint(stock)


def test_stage2_with_load_from_reads_stage1_from_it(tmp_path):
    """A complete stage-2 checkpoint (e.g. a converted official OoD model) given as
    load_from also provides stage 1: no separate stage-1 file is asked for."""
    from mmseg_uem.models.segmentors.stage1 import check_stage1_checkpoint

    full = tmp_path / 'uem_gg.pth'
    torch.save({'state_dict': {}}, full)
    cfg = Config(dict(model=dict(type='UEMEncoderDecoder', stage=2,
                                 stage1_checkpoint=str(tmp_path / 'absent.pth')),
                      load_from=str(full)))
    check_stage1_checkpoint(cfg)
    assert cfg.model.stage1_checkpoint == str(full)
    cfg.load_from = str(tmp_path / 'absent-too.pth')
    with pytest.raises(FileNotFoundError, match='load_from checkpoint .*absent-too.pth'):
        check_stage1_checkpoint(cfg)
