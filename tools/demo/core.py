"""Demo section ``core``: stage 1, stage 2, the OoD scores of the stage-2 model, mIoU of both.

:func:`train_and_score` is the two-stage run itself; the ``dinov3`` section runs it on other
configs (``dinov3.py``).
"""
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List

from mmseg_uem.visualization import panel_titles

from .context import CONFIG_DIR, DemoContext, format_table, log

#: the score modes of the tables, in order, and what each is
SCORE_NAMES = {'ID': 'ID  (-max_k F_k, stage 1 alone)', 'OoD': 'OoD (O_1 - O_0, UEM alone)',
               'LLR': 'LR  (O_1 - O_0 - max_k F_k)'}
METRICS = ('AP', 'FPR95', 'AUROC')


@dataclass(frozen=True)
class TwoStageRun:
    """The configs of a stage-1 G run, a stage-2 G-D run on it and the stage-2 mIoU test;
    ``label`` prefixes the progress lines, ``prefix`` the folders in the work dir
    (``<prefix>stage1``, ``<prefix>stage2``, ``<prefix>test_<score>``, ``<prefix>heatmaps``,
    ``<prefix>miou_stage1``, ``<prefix>miou_stage2``)."""
    label: str
    prefix: str
    stage1_config: str
    stage2_config: str
    miou_config: str

    def folder(self, name: str) -> str:
        return self.prefix + name


#: the core section's runs (table4 reads its stage-1 folder)
CORE = TwoStageRun(label='', prefix='', stage1_config=osp.join(CONFIG_DIR, 'demo_g_stage1.py'),
                   stage2_config=osp.join(CONFIG_DIR, 'demo_gd.py'),
                   miou_config=osp.join(CONFIG_DIR, 'demo_gd_test-cityscapes.py'))
STAGE1_DIR = CORE.folder('stage1')


def train_and_score(ctx: DemoContext, run: TwoStageRun) -> dict:
    """Train both stages; test the stage-2 model with each score of :data:`SCORE_NAMES` (heat
    maps of the LR run) and both models' mIoU. Returns ``{score: metrics, 'mIoU': {...}}``."""
    stage1_ckpt = ctx.train(run.stage1_config, ctx.folder(run.folder('stage1')),
                            label=f'{run.label}stage 1 ')
    log(f'{run.label}stage 2: UEM (G-D: linear UEM head) with AnomalyMix, everything of '
        'stage 1 frozen')
    stage2_ckpt = ctx.train(run.stage2_config, ctx.folder(run.folder('stage2')),
                            stage1=stage1_ckpt, label=f'{run.label}stage 2 ')
    results = {}
    heatmaps = ctx.folder(run.folder('heatmaps'))
    for score in SCORE_NAMES:
        extra = ['--cfg-options', f'model.test_cfg.score={score}']
        if score == 'LLR':
            extra = ['--show-dir', heatmaps] + extra
        results[score] = ctx.test(run.stage2_config, stage2_ckpt,
                                  ctx.folder(run.folder(f'test_{score}')), list(METRICS),
                                  extra)
    miou1 = ctx.test(run.stage1_config, stage1_ckpt, ctx.folder(run.folder('miou_stage1')),
                     ['mIoU'])
    miou2 = ctx.test(run.miou_config, stage2_ckpt, ctx.folder(run.folder('miou_stage2')),
                     ['mIoU'])
    results['mIoU'] = {'stage1': miou1['mIoU'], 'stage2': miou2['mIoU']}
    return results


def score_rows(columns: Dict[str, dict]) -> List[List[str]]:
    """One row per score, the three metrics of each column's results side by side."""
    return [[SCORE_NAMES[s], *(f'{res[s][f"ood/{m}"]:.2f}' for res in columns.values()
                               for m in METRICS)] for s in SCORE_NAMES]


def heatmaps_line(folder: str) -> str:
    """Where the LR run's heat maps are, and their panels (the test set has labels: the hook
    draws the ground truth too)."""
    shown = ' | '.join(panel_titles(pred=True, gt=True, score_name='LLR'))
    return f'heat maps ({shown}): {folder}'


def run_core(ctx: DemoContext) -> dict:
    """Stage 1, stage 2, OoD scores of the stage-2 model and mIoU of both."""
    log('stage 1: tiny ViT + pixel decoder + GMM head on the miniature Cityscapes')
    results = train_and_score(ctx, CORE)
    print()
    print('Miniature RoadAnomaly-format set (pixel metrics in %):')
    print(format_table(score_rows({'core': results}), ['score', *METRICS]))
    print()
    miou = results['mIoU']
    print(format_table([['after stage 1', f'{miou["stage1"]:.2f}'],
                        ['after stage 2', f'{miou["stage2"]:.2f}']],
                       ['inlier mIoU (miniature Cityscapes val)', 'mIoU']))
    print()
    print(heatmaps_line(ctx.path(CORE.folder('heatmaps'))))
    return results
