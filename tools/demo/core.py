"""Demo section ``core``: stage 1, stage 2, the OoD scores of the stage-2 model, mIoU of both."""
import os.path as osp

from mmseg_uem.visualization import panel_titles

from .context import CONFIG_DIR, DemoContext, format_table, log

STAGE1_CONFIG = osp.join(CONFIG_DIR, 'demo_g_stage1.py')
STAGE2_CONFIG = osp.join(CONFIG_DIR, 'demo_gd.py')
MIOU_CONFIG = osp.join(CONFIG_DIR, 'demo_gd_test-cityscapes.py')
#: the core section's training runs, relative to the work dir (table4 reads stage 1's)
STAGE1_DIR, STAGE2_DIR = 'stage1', 'stage2'
_SCORE_NAMES = {'ID': 'ID  (-max_k F_k, stage 1 alone)', 'OoD': 'OoD (O_1 - O_0, UEM alone)',
                'LLR': 'LR  (O_1 - O_0 - max_k F_k)'}


def run_core(ctx: DemoContext) -> dict:
    """Stage 1, stage 2, OoD scores of the stage-2 model and mIoU of both."""
    log('stage 1: tiny ViT + pixel decoder + GMM head on the miniature Cityscapes')
    stage1_ckpt = ctx.train(STAGE1_CONFIG, ctx.folder(STAGE1_DIR), label='stage 1 ')
    log('stage 2: UEM (G-D: linear UEM head) with AnomalyMix, everything of stage 1 frozen')
    stage2_ckpt = ctx.train(STAGE2_CONFIG, ctx.folder(STAGE2_DIR),
                            ['--cfg-options', f'model.stage1_checkpoint={stage1_ckpt}'],
                            label='stage 2 ')

    results = {}
    heatmaps = ctx.folder('heatmaps')
    for score in ('ID', 'OoD', 'LLR'):
        extra = ['--cfg-options', f'model.test_cfg.score={score}']
        if score == 'LLR':
            extra = ['--show-dir', heatmaps] + extra
        results[score] = ctx.test(STAGE2_CONFIG, stage2_ckpt, ctx.folder(f'test_{score}'),
                                  ['AP', 'FPR95', 'AUROC'], extra)
    miou1 = ctx.test(STAGE1_CONFIG, stage1_ckpt, ctx.folder('miou_stage1'), ['mIoU'])
    miou2 = ctx.test(MIOU_CONFIG, stage2_ckpt, ctx.folder('miou_stage2'), ['mIoU'])

    rows = [[_SCORE_NAMES[s], *(f'{results[s][f"ood/{m}"]:.2f}' for m in ('AP', 'FPR95', 'AUROC'))]
            for s in ('ID', 'OoD', 'LLR')]
    print()
    print('Miniature RoadAnomaly-format set (pixel metrics in %):')
    print(format_table(rows, ['score', 'AP', 'FPR95', 'AUROC']))
    print()
    print(format_table([['after stage 1', f'{miou1["mIoU"]:.2f}'],
                        ['after stage 2', f'{miou2["mIoU"]:.2f}']],
                       ['inlier mIoU (miniature Cityscapes val)', 'mIoU']))
    print()
    # the test set has labels: the hook draws the ground truth too
    shown = ' | '.join(panel_titles(pred=True, gt=True, score_name='LLR'))
    print(f'heat maps ({shown}): {heatmaps}')
    results['mIoU'] = {'stage1': miou1['mIoU'], 'stage2': miou2['mIoU']}
    return results
