"""The docs' Python snippets, read from their pages so they cannot drift.

The stock-``EncoderDecoder`` snippet ("Using the modules from another mmseg project" in
``docs/en/user_guides/5_uem_on_your_model.md``) is built (at a tiny width, without its
checkpoint) and run through its data preprocessor on a 189x336 frame, whose height is not a
multiple of the patch size 14: the prediction must equal the model's map on the frame padded
to 196x336 with the padding cropped off, i.e. be aligned with the image. The same model
without ``test_cfg=dict(size_divisor=14)`` is not.
"""
import torch
from doc_pages import DOCS, snippet
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample

import mmseg_uem  # noqa: F401  (registers the modules)

PAGE = DOCS / 'user_guides' / '5_uem_on_your_model.md'
TINY = dict(embed_dims=32, num_layers=12, num_heads=2)  # 12 blocks: out_indices [1, 4, 8, 11]


def _build(cfg_text: str, **preprocessor):
    cfg = Config.fromstring(cfg_text, file_format='.py')
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'  # the snippet as a user has it
    cfg.model.backbone.update(arch=TINY, init_cfg=None)
    cfg.model.decode_head.update(in_channels=[TINY['embed_dims']] * 4, channels=32)
    cfg.model.data_preprocessor.update(preprocessor)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    return model.eval()


def _predict(model, image):
    shape = tuple(image.shape[1:])  # a tuple as LoadImageFromFile gives (mmseg reads a
    # torch.Size img_shape as a sliding window's)
    sample = SegDataSample(metainfo=dict(ori_shape=shape, img_shape=shape))
    with torch.no_grad():
        return model.test_step(dict(inputs=[image], data_samples=[sample]))[0].seg_logits.data


def test_stock_encoder_decoder_snippet_is_aligned():
    text = snippet(PAGE, '## Using the modules from another mmseg project')
    assert "type='EncoderDecoder'" in text and 'size_divisor=14' in text
    model = _build(text)
    image = torch.randint(0, 256, (3, 189, 336), dtype=torch.uint8,
                          generator=torch.Generator().manual_seed(0))
    logits = _predict(model, image)
    assert logits.shape == (19, 189, 336)

    # reference: normalise (BGR -> RGB), pad to 196x336 with zeros, run, crop
    pre = model.data_preprocessor
    x = ((image.flip(0).float() - pre.mean) / pre.std)[None]
    x = torch.nn.functional.pad(x, (0, 0, 0, 196 - 189))
    with torch.no_grad():
        expected = model.encode_decode(x, [dict(img_shape=(196, 336))])[0, :, :189]
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-5)

    # without the divisor the head's map is stretched over the padding: misaligned
    stretched = _predict(_build(text, test_cfg=None, size=None), image)
    assert (stretched.argmax(0) != logits.argmax(0)).sum() > 0
    assert (stretched - logits).abs().max() > 1e-3
