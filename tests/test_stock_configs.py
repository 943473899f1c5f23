"""The stock-segmentor configs state mmseg's models exactly as mmseg 1.2.2 ships them.

Compared with the config files inside the installed mmseg (``mmseg/.mim/configs``), read by
path (their ``_base_`` are relative, so no ``mmseg::`` / pkg_resources lookup is needed).
Building every config is tests/test_configs.py's job.
"""
import os.path as osp
from pathlib import Path

import mmseg
import pytest
from doc_pages import snippet
from mmengine.config import Config

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / 'configs' / '_base_' / 'models'
SHIPPED = osp.join(osp.dirname(mmseg.__file__), '.mim', 'configs')
pytestmark = pytest.mark.skipif(not osp.isdir(SHIPPED),
                                reason='this mmseg install ships no .mim configs')

# our stock base -> the mmseg config it restates
STOCK = {
    'segformer_mit-b5_cityscapes.py':
        'segformer/segformer_mit-b5_8xb1-160k_cityscapes-1024x1024.py',
    'deeplabv3plus_r101-d8_cityscapes.py':
        'deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py',
}
# stage-2 base -> (stock base, released checkpoint's mmseg metafile)
UEM = {
    'segformer_mit-b5_dd.py': ('segformer_mit-b5_cityscapes.py', 'segformer/metafile.yaml'),
    'deeplabv3plus_r101-d8_dd.py': ('deeplabv3plus_r101-d8_cityscapes.py',
                                    'deeplabv3plus/metafile.yaml'),
}


def _model(path) -> dict:
    return Config.fromfile(str(path)).model.to_dict()


@pytest.mark.parametrize('name', ['segformer_mit-b0.py', 'deeplabv3plus_r50-d8.py'])
def test_copied_primitives_equal_the_shipped_files(name):
    ours = Config.fromfile(str(MODELS_DIR / 'mmseg' / name)).to_dict()
    shipped = Config.fromfile(osp.join(SHIPPED, '_base_', 'models', name)).to_dict()
    assert ours == shipped


@pytest.mark.parametrize('ours', list(STOCK))
def test_stock_models_equal_mmseg_cityscapes_configs(ours):
    assert _model(MODELS_DIR / ours) == _model(osp.join(SHIPPED, STOCK[ours]))


@pytest.mark.parametrize('uem', list(UEM))
def test_stage2_changes_only_the_uem_parts(uem):
    stock_name, metafile = UEM[uem]
    stock, model = _model(MODELS_DIR / stock_name), _model(MODELS_DIR / uem)
    assert model.pop('type') == 'UEMEncoderDecoder' and model.pop('stage') == 2
    assert model.pop('auxiliary_head')['type'] == 'UEMHead'
    stock.pop('auxiliary_head', None)  # training-only; replaced by the UEM
    checkpoint = model.pop('stage1_checkpoint')
    assert model.pop('test_cfg') == {**stock.pop('test_cfg'), **_added_test_cfg(uem)}
    stock.pop('type')
    assert model == stock  # backbone, decode head, preprocessor: mmseg's, unchanged
    # the released checkpoint of exactly that config (listed in mmseg's model zoo metafile)
    with open(osp.join(SHIPPED, metafile)) as f:
        assert f'/{osp.basename(checkpoint)}' in f.read()
    guide = (ROOT / 'docs' / 'en' / 'user_guides' / '5_uem_on_your_model.md').read_text()
    assert osp.basename(checkpoint) in guide


def _added_test_cfg(uem: str) -> dict:
    """What the stage-2 base adds to the stock test_cfg."""
    extra = dict(score='LLR')
    if uem.startswith('segformer'):
        extra['batch_windows'] = 1  # mmseg's one-window loop: bitwise as the stock model
    return extra


def test_recipe_with_a_complete_stock_config(tmp_path):
    """The "UEM on your own mmseg model" recipe when ``my_model.py`` is a complete mmseg
    config (model + data + schedule, here mmseg's own DeepLabV3+ Cityscapes config): listing
    it as a base next to the dataset bases of step 3 is mmengine's "Duplicate key" error;
    ``stock_model`` takes only its model, and the merged config builds the UEM on it."""
    import shutil

    from mmseg.registry import MODELS

    import mmseg_uem  # noqa: F401  (registers UEMEncoderDecoder)

    complete = osp.join(SHIPPED, STOCK['deeplabv3plus_r101-d8_cityscapes.py'])
    # the user's copy of a complete config, with the bases it names
    shutil.copytree(osp.join(SHIPPED, '_base_'), tmp_path / '_base_')
    (tmp_path / 'mine').mkdir()
    my_model = tmp_path / 'mine' / 'my_model.py'
    shutil.copy(osp.join(SHIPPED, 'deeplabv3plus',
                         'deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'),
                tmp_path / 'mine' / 'deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py')
    my_model.write_text(Path(complete).read_text())
    guide = ROOT / 'docs' / 'en' / 'user_guides' / '5_uem_on_your_model.md'
    block = snippet(guide, 'If `my_model.py` is a complete config')
    base_dir = str(ROOT / 'configs' / '_base_')
    naive = tmp_path / 'mine' / 'naive_uem.py'  # the complete config next to the bases
    bases = block.split(']', 1)[0].replace('../_base_', base_dir)
    naive.write_text(bases.replace("_base_ = ['", "_base_ = ['./my_model.py', '", 1) + ']\n')
    with pytest.raises(Exception, match='Duplicate key is not allowed among bases'):
        Config.fromfile(str(naive))
    recipe = tmp_path / 'mine' / 'my_model_uem.py'
    recipe.write_text(block.replace('../_base_', base_dir))
    cfg = Config.fromfile(str(recipe))
    stock = Config.fromfile(complete)
    assert cfg.model.backbone == stock.model.backbone
    assert cfg.model.decode_head == stock.model.decode_head
    assert cfg.model.auxiliary_head.type == 'UEMHead' and cfg.model.test_cfg.score == 'LLR'
    assert cfg.train_dataloader.dataset.pipeline[2]['type'] == 'AnomalyMix'  # step 3's data
    model = MODELS.build(cfg.model)
    assert type(model).__name__ == 'UEMEncoderDecoder' and model.score == 'LLR'
    assert type(model.decode_head).__name__ == 'DepthwiseSeparableASPPHead'
