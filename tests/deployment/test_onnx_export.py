"""ONNX export and onnxruntime parity of every variant at a tiny width (CPU).

Tiny models: DINOv2 32 dims / 4 blocks / 2 heads, decoders with 16 channels, K = 5 classes,
GMM Gaussians spread as trained ones (see ``mmseg_uem.deployment.parity``), window 42x70.
"""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

_REASON = 'needs the deploy extras (pip install -e .[deploy]; tools/setup_env.sh installs them)'
onnx = pytest.importorskip('onnx', reason=_REASON)
ort = pytest.importorskip('onnxruntime', reason=_REASON)
pytest.importorskip('onnxscript', reason=_REASON)

from mmseg_uem.deployment import (  # noqa: E402
    ONNXSegmentor,
    UEMExportWrapper,
    check_window,
    deploy_metadata,
    export_onnx,
    load_segmentor,
)
from mmseg_uem.deployment.parity import (  # noqa: E402
    SCORE_TOLERANCE,
    compare_maps,
    compare_predictions,
    spread_gaussians,
)
from mmseg_uem.evaluation.io import load_anomaly_map  # noqa: E402
from mmseg_uem.models.utils.scores import anomaly_score  # noqa: E402
from mmseg_uem.testing.models import segmentor_cfg  # noqa: E402
from mmseg_uem.utils.checkpoint import CheckpointMismatchError  # noqa: E402

torch.set_num_threads(2)
init_default_scope('mmseg')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VARIANTS = ('G', 'D', 'G-G', 'G-D', 'D-D')
WINDOW = (42, 70)
CLASSES = 5
PREPROCESSOR = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                    std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0, seg_pad_val=255,
                    size_divisor=14)


SLIDE = dict(mode='slide', crop_size=WINDOW, stride=(14, 28), batch_windows=3)
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
            dict(type='PackSegInputs')]


def tiny_cfg(variant: str) -> dict:
    cfg = segmentor_cfg(variant, arch=dict(embed_dims=32, num_layers=4, num_heads=2),
                        out_indices=(0, 1, 2, 3), channels=16, num_classes=CLASSES,
                        memory_size=24, mlp_channels=(16, 16, 8), test_cfg=SLIDE)
    cfg['data_preprocessor'] = PREPROCESSOR
    return cfg


def tiny_config(variant: str) -> Config:
    return Config(dict(default_scope='mmseg', model=tiny_cfg(variant), test_pipeline=PIPELINE))


def tiny_model(variant: str, seed: int = 0):
    torch.manual_seed(seed)
    model = MODELS.build(tiny_cfg(variant))
    assert spread_gaussians(model, seed=seed) == variant.count('G')
    return model.eval()


def windows(batch: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, *WINDOW, generator=torch.Generator().manual_seed(seed))


def run_session(path, x: torch.Tensor) -> list:
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return [torch.from_numpy(o) for o in session.run(None, {'image': x.numpy()})]


#: the exports the tests share: G-G has the dynamic batch axis, the others a static batch of 2
DYNAMIC = ('G-G', )


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """(variant, outputs) -> (model, path), each exported once, with the runner's metadata."""
    cache = {}
    root = tmp_path_factory.mktemp('onnx')

    def get(variant, outputs='maps'):
        if (variant, outputs) not in cache:
            model = tiny_model(variant)
            dynamic = variant in DYNAMIC
            path = root / f'{variant}_{outputs}.onnx'
            meta = deploy_metadata(tiny_config(variant), model, window=WINDOW, outputs=outputs,
                                   batch_size=None if dynamic else 2)
            export_onnx(model, str(path), window=WINDOW, outputs=outputs, batch_size=2,
                        dynamic_batch=dynamic, metadata=meta)
            cache[variant, outputs] = model, path
        return cache[variant, outputs]

    return get


@pytest.mark.parametrize('variant', VARIANTS)
def test_maps_parity(exported, variant):
    model, path = exported(variant, 'maps')
    x = windows(2)
    outs = run_session(path, x)
    assert len(outs) == (2 if '-' in variant else 1)
    with torch.no_grad():
        ref = model.encode_decode(x, [])
    got = torch.cat(outs, 1)
    assert got.shape == ref.shape == (2, CLASSES + (2 if '-' in variant else 0), *WINDOW)
    res = compare_maps(ref, got, num_classes=CLASSES, score=model.score)
    print(variant, 'maps', res)
    assert res['score_max_abs'] <= SCORE_TOLERANCE
    assert res['pred_mismatch_not_tie'] == 0


# the score is the graph's tail: one model with the UEM (LLR) and one without (ID)
@pytest.mark.parametrize('variant', ['G-D', 'D'])
def test_scores_parity(exported, variant):
    model, path = exported(variant, 'scores')
    x = windows(2, seed=3)
    score, pred = run_session(path, x)
    assert score.shape == pred.shape == (2, 1, *WINDOW)
    assert score.dtype == torch.float32 and pred.dtype == torch.int64
    with torch.no_grad():
        maps = model.encode_decode(x, [])
    inlier = maps[:, :CLASSES]
    # the reference score comes from the one owner of the formulas, on eager maps
    ref = anomaly_score(inlier, maps[:, CLASSES:] if '-' in variant else None, mode=model.score)
    res = compare_predictions(ref, score, inlier.argmax(1, keepdim=True), pred,
                              reference_scores=inlier)
    print(variant, 'scores', res)
    assert res['score_max_abs'] <= SCORE_TOLERANCE
    assert res['pred_mismatch_not_tie'] == 0


def test_score_formula_in_graph_is_the_llr(exported):
    """Independent of anomaly_score: LLR = O1 - O0 - max_k F_k by hand, float64."""
    model, path = exported('G-D', 'scores')
    x = windows(2, seed=4)
    score, _ = run_session(path, x)
    with torch.no_grad():
        maps = model.encode_decode(x, []).double()
    llr = maps[:, CLASSES + 1] - maps[:, CLASSES] - maps[:, :CLASSES].max(1).values
    assert (score[:, 0].double() - llr).abs().max() < SCORE_TOLERANCE


def test_dynamic_batch(exported):
    model, path = exported('G-G')
    graph_input = onnx.load(str(path)).graph.input[0]
    assert graph_input.type.tensor_type.shape.dim[0].dim_param  # symbolic
    for batch in (1, 3):
        x = windows(batch, seed=10 + batch)
        got = torch.cat(run_session(path, x), 1)
        with torch.no_grad():
            ref = model.encode_decode(x, [])
        assert got.shape[0] == batch
        res = compare_maps(ref, got, num_classes=CLASSES, score='LLR')
        assert res['score_max_abs'] <= SCORE_TOLERANCE and res['pred_mismatch_not_tie'] == 0


def test_static_batch_is_fixed(exported):
    _, path = exported('D')
    assert onnx.load(str(path)).graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2
    with pytest.raises(Exception, match='(?i)dimension|shape'):
        run_session(path, windows(3))


def test_gmm_memory_is_not_exported(exported):
    model, path = exported('G-G')
    graph = onnx.load(str(path)).graph
    names = [t.name for t in graph.initializer]
    shapes = {tuple(t.dims) for t in graph.initializer}
    for head in (model.decode_head.classifier, model.auxiliary_head.classifier):
        assert tuple(head.memory.shape) not in shapes
    assert not [n for n in names if 'memory' in n or 'num_steps' in n]
    # the Gaussians are there, folded with the stds into (D, K*C) constants (x . mu / s^2)
    for head in (model.decode_head.classifier, model.auxiliary_head.classifier):
        dims = (head.embed_dims, head.num_classes * head.num_components)
        assert dims in shapes or dims[::-1] in shapes


def test_window_must_be_whole_patches():
    model = tiny_model('D')
    with pytest.raises(ValueError, match='not a multiple of the backbone patch size 14.*'
                       'H in 42 or 56'):
        check_window(model, (43, 70))
    with pytest.raises(ValueError, match='under 2 x 2 patches'):
        check_window(model, (14, 70))
    assert check_window(model, (28, 28)) == (28, 28)


def test_wrapper_refuses_other_segmentors():
    with pytest.raises(TypeError, match='UEMEncoderDecoder'):
        UEMExportWrapper(torch.nn.Identity())


# ------------------------------------------------------------ config, checkpoint, runner
def write_config(tmp_path, variant, name) -> str:
    path = tmp_path / f'{name}.py'
    tiny_config(variant).dump(str(path))
    return str(path)


def write_checkpoint(tmp_path, model, name) -> str:
    path = tmp_path / f'{name}.pth'
    classes = [f'class{i}' for i in range(CLASSES)]
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=classes,
                                                palette=[[i, i, i] for i in range(CLASSES)]))),
               path)
    return str(path)


def test_config_checkpoint_mismatch(tmp_path):
    ckpt = write_checkpoint(tmp_path, tiny_model('G-D'), 'gd')
    config = write_config(tmp_path, 'D-D', 'dd')
    with pytest.raises(CheckpointMismatchError,
                       match=r'(?s)gd\.pth does not fit the model of .*dd\.py'
                       r'.*missing keys.*decode_head\.conv_seg'):
        load_segmentor(config, ckpt)
    with pytest.raises(CheckpointMismatchError, match='(?s)stage-1 checkpoint'):
        load_segmentor(write_config(tmp_path, 'G-D', 'gd_cfg'),
                       write_checkpoint(tmp_path, tiny_model('G'), 'g'))
    with pytest.raises(FileNotFoundError, match='nowhere.pth'):
        load_segmentor(config, str(tmp_path / 'nowhere.pth'))


def street_image(path, height, width, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (height // 7, width // 7, 3), dtype=np.uint8),
                     (width, height), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(path), img)
    return str(path)


@pytest.mark.parametrize('variant', ['G-G', 'D'])
def test_runner_slide_equals_segmentor_predict(tmp_path, exported, variant):
    """Image file -> test pipeline -> preprocessor -> sliding windows -> score, with
    onnxruntime, against the PyTorch segmentor's predict on the same file."""
    model, path = exported(variant)
    runner = ONNXSegmentor(str(path))
    # a fixed batch of 2 bounds the windows per call; a dynamic one takes test_cfg's 3
    assert runner.batch_windows == (3 if variant in DYNAMIC else 2)
    assert runner.stride == (14, 28) and runner.score == model.score
    image = street_image(tmp_path / 'street.png', 75, 110)  # padded to 84x112 by size_divisor
    got = runner.predict(image)[0]
    ref = runner.preprocess(image)
    with torch.no_grad():
        data = model.data_preprocessor(dict(inputs=[ref['inputs']],
                                            data_samples=[ref['data_samples']]), False)
        want = model.predict(data['inputs'], data['data_samples'])[0]
    assert got.pred_anomaly_score.data.shape == (1, 75, 110)
    assert got.metainfo['img_path'] == image
    res = compare_predictions(want.pred_anomaly_score.data[None],
                              got.pred_anomaly_score.data[None], want.pred_sem_seg.data[None],
                              got.pred_sem_seg.data[None],
                              reference_scores=want.seg_logits.data[None])
    print(variant, 'runner', res)
    assert res['score_max_abs'] <= SCORE_TOLERANCE and res['pred_mismatch_not_tie'] == 0
    # an array in BGR (as cv2 reads it) gives the same result as the file
    again = runner.predict([cv2.imread(image)])[0]
    assert torch.equal(again.pred_anomaly_score.data, got.pred_anomaly_score.data)
    # a score chosen at run time (maps export), and refused where it needs a missing UEM
    if '-' in variant:
        ood = ONNXSegmentor(str(path), score='OoD').predict(image)[0]
        llr_minus_ood = got.pred_anomaly_score.data - ood.pred_anomaly_score.data
        assert (llr_minus_ood + got.seg_logits.data.amax(0)).abs().max() < 1e-4  # -max_k F_k
    else:
        with pytest.raises(ValueError, match='needs the UEM'):
            ONNXSegmentor(str(path), score='LLR')
    with pytest.raises(ValueError, match='smaller than the exported window'):
        runner.predict(street_image(tmp_path / 'small.png', 28, 110))
    with pytest.raises(RuntimeError, match='could not load .*missing.png'):
        runner.predict(str(tmp_path / 'missing.png'))


def test_runner_scores_export_whole_image(tmp_path, exported):
    model, path = exported('G-D', 'scores')
    runner = ONNXSegmentor(str(path))
    assert not runner.slide
    image = street_image(tmp_path / 'window.png', *WINDOW)
    got = runner.predict(image)[0]
    ref = runner.preprocess(image)
    model.test_cfg.mode = 'whole'
    try:
        with torch.no_grad():
            data = model.data_preprocessor(dict(inputs=[ref['inputs']],
                                                data_samples=[ref['data_samples']]), False)
            want = model.predict(data['inputs'], data['data_samples'])[0]
            # an image that is not whole patches: the backbone pads it, so does the runner
            inputs = torch.randn(1, 3, 40, 66, generator=torch.Generator().manual_seed(5))
            meta = dict(ori_shape=(40, 66), img_shape=(40, 66), pad_shape=(40, 66))
            want_odd = model.predict(inputs, [SegDataSample(metainfo=meta)])[0]
    finally:
        model.test_cfg.mode = 'slide'
    got_odd = runner.predict_inputs(inputs, SegDataSample(metainfo=meta))
    for w, g in ((want, got), (want_odd, got_odd)):
        res = compare_predictions(w.pred_anomaly_score.data[None],
                                  g.pred_anomaly_score.data[None], w.pred_sem_seg.data[None],
                                  g.pred_sem_seg.data[None],
                                  reference_scores=w.seg_logits.data[None])
        assert res['score_max_abs'] <= SCORE_TOLERANCE and res['pred_mismatch_not_tie'] == 0
    assert got_odd.pred_anomaly_score.data.shape == (1, 40, 66)
    with pytest.raises(ValueError, match='computes the score LLR in its graph'):
        ONNXSegmentor(str(path), score='OoD')
    with pytest.raises(ValueError, match='no stride'):
        ONNXSegmentor(str(path), stride=(14, 14))
    with pytest.raises(ValueError, match='needs a 56x84 window .* export with --shape 56 84'):
        runner.predict(street_image(tmp_path / 'big.png', 56, 84))


@pytest.mark.slow
def test_tools_export_and_infer(tmp_path):
    """The two command lines on a G-D model: export (scores, whole image) + onnx_infer."""
    config = write_config(tmp_path, 'G-D', 'cfg')
    ckpt = write_checkpoint(tmp_path, tiny_model('G-D'), 'ckpt')
    out = tmp_path / 'gd.onnx'
    env = {**os.environ, 'PYTHONPATH': ROOT}
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deployment/pytorch2onnx.py'), config, ckpt,
         '--out', str(out), '--shape', *map(str, WINDOW), '--outputs', 'scores'],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert 'onnx.checker passed' in run.stdout and out.is_file()
    bad = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deployment/pytorch2onnx.py'), config, ckpt,
         '--out', str(tmp_path / 'bad.onnx'), '--shape', '40', '70'],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert bad.returncode != 0 and 'not a multiple of the backbone patch size' in bad.stderr
    # onnx_infer on a folder: the files tools/infer.py writes, the map equal to the runner's
    folder = tmp_path / 'images'
    folder.mkdir()
    image = street_image(folder / 'frame.png', *WINDOW)
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deployment/onnx_infer.py'), str(out),
         str(folder), '--out-dir', str(tmp_path / 'out'), '--threshold', '0.5', '--save-maps'],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert '1 image(s)' in run.stdout
    for name in ('vis/frame.png', 'pred/frame_pred.png', 'pred/frame.npz'):
        assert (tmp_path / 'out' / name).is_file(), name
    saved = load_anomaly_map(str(tmp_path / 'out' / 'pred' / 'frame.npz'))
    want = ONNXSegmentor(str(out)).predict(image)[0].pred_anomaly_score.data[0].numpy()
    assert np.array_equal(saved['score'], want)
    vis = cv2.imread(str(tmp_path / 'out' / 'vis' / 'frame.png'))
    assert vis.shape[0] > WINDOW[0] and vis.shape[1] > 2 * WINDOW[1]  # titled panels


def test_importing_the_project_loads_no_onnx():
    code = ('import sys, mmseg_uem, mmseg_uem.deployment; '
            'bad = [m for m in sys.modules if m.split(".")[0] in ("onnx", "onnxruntime", '
            '"onnxscript")]; assert not bad, bad')
    run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': ROOT})
    assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.slow
def test_default_export_of_the_demo_config_runs_any_image_size(tmp_path):
    """``pytorch2onnx.py`` on the demo config without ``--shape`` exported the training crop
    (168x336), which could not run the demo's own 189x336 test frames. The default export
    now takes any height and width of whole patches: the demo's frame and a grace-hopper-
    sized photo (606x517) both run, equal to the PyTorch model's prediction."""
    config = osp.join(ROOT, 'configs/uem/demo/demo_gd.py')
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).eval()
    spread_gaussians(model, seed=0)
    ckpt = write_checkpoint(tmp_path, model, 'demo_gd')
    out = tmp_path / 'demo.onnx'
    env = {**os.environ, 'PYTHONPATH': ROOT}
    run = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools/deployment/pytorch2onnx.py'), config, ckpt,
         '--out', str(out)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert ('accepts any height and width of whole 14 px patches, at least 28: images of at '
            'least 15x15 px (the runner pads them)') in run.stdout
    runner = ONNXSegmentor(str(out))
    for height, width in ((189, 336), (606, 517)):
        image = street_image(tmp_path / f'{height}x{width}.png', height, width)
        got = runner.predict(image)[0]
        assert got.pred_anomaly_score.data.shape == (1, height, width)
        data = runner.preprocess(image)
        with torch.no_grad():
            batch = model.data_preprocessor(dict(inputs=[data['inputs']],
                                                 data_samples=[data['data_samples']]), False)
            want = model.predict(batch['inputs'], batch['data_samples'])[0]
        res = compare_predictions(want.pred_anomaly_score.data[None],
                                  got.pred_anomaly_score.data[None],
                                  want.pred_sem_seg.data[None], got.pred_sem_seg.data[None],
                                  reference_scores=want.seg_logits.data[None])
        assert res['score_max_abs'] <= SCORE_TOLERANCE and res['pred_mismatch_not_tie'] == 0


def test_cfg_options_change_the_stored_config():
    """``onnx_infer.py --cfg-options``: the stored test_cfg (keys checked as the segmentor
    checks them), preprocessor and pipeline change; other keys are refused by name."""
    from mmseg_uem.deployment.runtime import apply_cfg_options

    meta = dict(test_cfg=dict(mode='slide', stride=[14, 28], score='LLR'),
                data_preprocessor=dict(pad_val=0), test_pipeline=[dict(type='A')])
    out = apply_cfg_options(meta, {'model.test_cfg.stride': [28, 28],
                                   'model.data_preprocessor.pad_val': 1,
                                   'test_pipeline': [dict(type='B')]}, source='m.onnx')
    assert out['test_cfg'] == dict(mode='slide', stride=[28, 28], score='LLR')
    assert out['data_preprocessor'] == dict(pad_val=1) and out['test_pipeline'] == [dict(type='B')]
    assert meta['test_cfg']['stride'] == [14, 28]  # the file's own metadata is left alone
    with pytest.raises(ValueError, match=r"model\.test_cfg: unknown key 'strid' \(did you mean "
                       r"'stride'\?\)"):
        apply_cfg_options(meta, {'model.test_cfg.strid': [28, 28]}, source='m.onnx')
    with pytest.raises(ValueError, match=r'--cfg-options model\.backbone\.arch: m\.onnx holds '
                       r'an exported network; only model\.test_cfg\.<key>'):
        apply_cfg_options(meta, {'model.backbone.arch': 'vits14'}, source='m.onnx')


# ------------------------------------------------------------ DINOv3 (RoPE in the graph)
@pytest.mark.parametrize('dynamic_size', [False, True])
def test_dinov3_scores_parity(tmp_path, dynamic_size):
    """A G-D model on a tiny DINOv3-architecture ViT (RoPE, storage tokens, K-masked qkv
    bias): the exported anomaly score equals the eager one within the DINOv2 bound, at the
    traced window and, with symbolic H and W, at other multiples of 16 (RoPE in the graph)."""
    torch.manual_seed(0)
    cfg = segmentor_cfg('G-D', arch=dict(embed_dims=32, num_layers=4, num_heads=2),
                        out_indices=(0, 1, 2, 3), channels=16, num_classes=CLASSES,
                        memory_size=24, mlp_channels=(16, 16, 8), test_cfg=SLIDE,
                        backbone_type='DINOv3')
    cfg['data_preprocessor'] = dict(PREPROCESSOR, size_divisor=16)
    model = MODELS.build(cfg)
    assert spread_gaussians(model, seed=0) == 1
    with torch.no_grad():  # a non-zero K bias: the mask must be in the graph too
        for blk in model.backbone.blocks:
            blk.attn.qkv.bias.normal_(std=0.5)
            blk.ls1.gamma.fill_(0.5)
            blk.ls2.gamma.fill_(0.5)
    model.eval()
    window = (48, 80)
    path = tmp_path / 'dinov3_gd.onnx'
    export_onnx(model, str(path), window=window, outputs='scores', batch_size=2,
                dynamic_size=dynamic_size)
    sizes = [window, (64, 48), (32, 112)] if dynamic_size else [window]
    for i, size in enumerate(sizes):
        x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(5 + i))
        score, pred = run_session(path, x)
        with torch.no_grad():
            maps = model.encode_decode(x, [])
        inlier = maps[:, :CLASSES]
        ref = anomaly_score(inlier, maps[:, CLASSES:], mode=model.score)
        res = compare_predictions(ref, score, inlier.argmax(1, keepdim=True), pred,
                                  reference_scores=inlier)
        print('DINOv3 G-D scores', size, 'dynamic' if dynamic_size else 'static', res)
        assert res['score_max_abs'] <= SCORE_TOLERANCE, size
        assert res['pred_mismatch_not_tie'] == 0, size
    with pytest.raises(ValueError, match='not a multiple of the backbone patch size 16'):
        check_window(model, (42, 70))
