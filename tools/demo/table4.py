"""The demo's ``table4`` section: UEM vs RbA vs PEBAL outlier supervision on one D network.

It needs the ``core`` section: it reuses the miniature data and the ViT + pixel decoder that
the core stage 1 trained. Every step runs the command-line tools a user runs:

1. ``tools/train.py`` the shared D inlier network (``configs/uem/demo/demo_d_stage1.py``:
   the core stage-1 ViT and pixel decoder frozen, a linear classifier trained on them);
2. from it, three kinds of outlier supervision on the same AnomalyMix data and schedule:
   the UEM (``demo_dd.py``, stage 2: nothing of the D network changes), RbA
   (``demo_d_rba.py``: the classifier retrained) and PEBAL (``demo_d_pebal.py``: the decode
   head retrained, with an abstention channel);
3. ``tools/test.py`` each on the miniature RoadAnomaly set with its own score (and the D
   network alone with RbA's and PEBAL's scores: where their fine-tuning starts), and each on
   the miniature Cityscapes val split for the inlier mIoU before / after;
4. print one table.
"""
import os.path as osp

from mmseg_uem.evaluation.functional import PIXEL_METRICS as OOD_METRICS

from .context import CONFIG_DIR, DemoContext, format_table, last_checkpoint, log
from .core import STAGE1_DIR

#: method -> (training config, its mIoU test config, score, what it trains)
METHODS = {
    'UEM (D-D)': ('demo_dd.py', 'demo_dd_test-cityscapes.py', 'LLR', 'UEM head'),
    'RbA': ('demo_d_rba.py', 'demo_d_rba_test-cityscapes.py', 'RbA', 'classifier'),
    'PEBAL': ('demo_d_pebal.py', 'demo_d_pebal_test-cityscapes.py', 'PEBAL',
              'decode head + abstention'),
}


def run_table4(ctx: DemoContext) -> dict:
    """Train and test the three methods from one D network; print the table; return it."""

    def cfg(name: str) -> str:
        return osp.join(CONFIG_DIR, name)

    try:
        core = last_checkpoint(osp.join(ctx.work_dir, STAGE1_DIR))
    except FileNotFoundError as err:
        raise FileNotFoundError(f'the table4 section needs the core stage-1 checkpoint: {err}'
                                ) from err
    log('D network: the core stage-1 ViT + pixel decoder, frozen; a linear classifier trains')
    d_ckpt = ctx.train(cfg('demo_d_stage1.py'), ctx.folder('table4', 'd_stage1'),
                       ['--cfg-options', f'model.backbone.init_cfg.checkpoint={core}',
                        f'model.decode_head.init_cfg.checkpoint={core}'], label='D network ')
    miou_before = ctx.test(cfg('demo_d_stage1.py'), d_ckpt, ctx.folder('table4', 'miou_d'),
                           ['mIoU'])['mIoU']

    results = {}
    for score in ('RbA', 'PEBAL'):  # the D network alone: where RbA and PEBAL start from
        metrics = ctx.test(cfg('demo_d_rba.py'), d_ckpt, ctx.folder('table4', f'd_{score}'),
                           list(OOD_METRICS), ['--cfg-options', f'model.test_cfg.score={score}'])
        results[f'D network alone, {score} score'] = dict(
            trains='-', score=score, **{m: metrics[f'ood/{m}'] for m in OOD_METRICS},
            miou_before=miou_before, miou_after=miou_before)
    for method, (train_cfg, miou_cfg, score, trains) in METHODS.items():
        tag = method.split()[0].lower()
        log(f'{method} from the D network ({trains} trains)')
        ckpt = ctx.train(cfg(train_cfg), ctx.folder('table4', tag), stage1=d_ckpt,
                         label=f'{tag} ')
        metrics = ctx.test(cfg(train_cfg), ckpt, ctx.folder('table4', f'test_{tag}'),
                           list(OOD_METRICS))
        miou = ctx.test(cfg(miou_cfg), ckpt, ctx.folder('table4', f'miou_{tag}'),
                        ['mIoU'])['mIoU']
        results[method] = dict(trains=trains, score=score,
                               **{m: metrics[f'ood/{m}'] for m in OOD_METRICS},
                               miou_before=miou_before, miou_after=miou)

    rows = [[name, r['trains'], r['score'], *(f'{r[m]:.2f}' for m in OOD_METRICS),
             f'{r["miou_before"]:.2f}', f'{r["miou_after"]:.2f}'] for name, r in results.items()]
    print()
    print('Table 4 in miniature: one D network, three kinds of outlier supervision '
          '(RoadAnomaly-format set, pixel metrics in %; mIoU on the Cityscapes val split):')
    print(format_table(rows, ['method', 'trains', 'score', *OOD_METRICS, 'mIoU before',
                              'mIoU after']))
    return results
