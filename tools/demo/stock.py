"""Demo section ``stock``: a UEM added to a stock mmseg segmentor, which it leaves unchanged.

1. ``tools/train.py configs/uem/demo/demo_stock_deeplabv3plus.py``: mmseg's own DeepLabV3+
   (``EncoderDecoder``, ResNetV1c-D8, ASPP head, auxiliary FCNHead; tiny widths) trained as
   mmseg trains it, on the miniature Cityscapes frames: the stand-in for a model-zoo
   checkpoint;
2. ``tools/train.py configs/uem/demo/demo_stock_deeplabv3plus_dd.py``: that checkpoint as
   the stage-1 checkpoint, frozen; a linear UEM on the backbone's last map (D-D);
3. ``tools/test.py`` on the miniature RoadAnomaly set: the stock model's own scores (MSP,
   MaxLogit, Energy: functions of its logits F, which stage 2 leaves bitwise unchanged)
   against the UEM's (OoD, LLR); mIoU of the stock model and of the UEM model on the
   miniature Cityscapes val split (equal).
"""
import os.path as osp

from .context import CONFIG_DIR, DemoContext, format_table, log

STOCK_CONFIG = osp.join(CONFIG_DIR, 'demo_stock_deeplabv3plus.py')
UEM_CONFIG = osp.join(CONFIG_DIR, 'demo_stock_deeplabv3plus_dd.py')
UEM_MIOU_CONFIG = osp.join(CONFIG_DIR, 'demo_stock_deeplabv3plus_dd_test-cityscapes.py')
#: the two training runs, relative to the work dir
STOCK_DIR, UEM_DIR = 'stock', 'stock_uem'
#: the rows of the table: score mode -> what it is
SCORES = {
    'MSP': 'stock model, MSP (-max_k softmax(F)_k)',
    'MaxLogit': 'stock model, MaxLogit (-max_k F_k)',
    'Energy': 'stock model, Energy (-logsumexp_k F_k)',
    'OoD': 'UEM alone (O_1 - O_0)',
    'LLR': 'stock model + UEM, LR (O_1 - O_0 - max_k F_k)',
}
METRICS = ('AP', 'FPR95', 'AUROC')


def run_stock(ctx: DemoContext) -> dict:
    """Train the stock model and the UEM on it; score both; mIoU before and after."""
    log('stock: mmseg DeepLabV3+ (EncoderDecoder + auxiliary FCNHead) on the miniature '
        'Cityscapes, trained as mmseg trains it')
    stock_ckpt = ctx.train(STOCK_CONFIG, ctx.folder(STOCK_DIR), label='stock ')
    log('stock: D-D UEM on the frozen stock checkpoint (its auxiliary head replaced)')
    uem_ckpt = ctx.train(UEM_CONFIG, ctx.folder(UEM_DIR), stage1=stock_ckpt,
                         label='stock UEM ')

    results = {}
    for score in SCORES:
        results[score] = ctx.test(UEM_CONFIG, uem_ckpt, ctx.folder(f'stock_test_{score}'),
                                  list(METRICS),
                                  ['--cfg-options', f'model.test_cfg.score={score}'])
    miou_stock = ctx.test(STOCK_CONFIG, stock_ckpt, ctx.folder('stock_miou'), ['mIoU'])
    miou_uem = ctx.test(UEM_MIOU_CONFIG, uem_ckpt, ctx.folder('stock_uem_miou'), ['mIoU'])

    rows = [[SCORES[s], *(f'{results[s][f"ood/{m}"]:.2f}' for m in METRICS)] for s in SCORES]
    print()
    print('A UEM on a stock mmseg DeepLabV3+, miniature RoadAnomaly-format set (%):')
    print(format_table(rows, ['score', *METRICS]))
    print()
    print(format_table([['stock model', f'{miou_stock["mIoU"]:.2f}'],
                        ['stock model + UEM', f'{miou_uem["mIoU"]:.2f}']],
                       ['inlier mIoU (miniature Cityscapes val)', 'mIoU']))
    results['mIoU'] = {'stock': miou_stock['mIoU'], 'with_uem': miou_uem['mIoU']}
    return results
