"""Demo section ``dinov3``: the core section's two stages on a tiny DINOv3-architecture ViT.

``configs/uem/demo/demo_dinov3_g_stage1.py`` and ``demo_dinov3_gd.py`` are the core demo's
configs with the backbone swapped for ``DINOv3`` of the same width and depth (RoPE instead of
a position table, 4 storage tokens, LayerScale, patch 16; ``_base_/models/demo_tiny_dinov3.py``).
Stage 1 trains it from scratch with the decoder and GMM head, stage 2 trains a G-D UEM with
everything of stage 1 frozen; the stage-2 model is scored with ID / OoD / LR on the miniature
RoadAnomaly set, and both models' mIoU on the miniature Cityscapes val split. When the core
section ran in the same demo, its numbers stand beside these. It shows that the whole path
runs on a DINOv3-architecture backbone; a tiny ViT trained from scratch for 500 steps says
nothing about DINOv3 against DINOv2.
"""
import os.path as osp

from .context import CONFIG_DIR, DemoContext, format_table, log
from .core import METRICS, TwoStageRun, heatmaps_line, score_rows, train_and_score

DINOV3 = TwoStageRun(label='DINOv3 ', prefix='dinov3_',
                     stage1_config=osp.join(CONFIG_DIR, 'demo_dinov3_g_stage1.py'),
                     stage2_config=osp.join(CONFIG_DIR, 'demo_dinov3_gd.py'),
                     miou_config=osp.join(CONFIG_DIR, 'demo_dinov3_gd_test-cityscapes.py'))


def run_dinov3(ctx: DemoContext) -> dict:
    """Both stages on the tiny DINOv3 ViT; the table, beside the core section's if it ran."""
    log('DINOv3 stage 1: tiny DINOv3-architecture ViT + pixel decoder + GMM head on the '
        'miniature Cityscapes')
    results = train_and_score(ctx, DINOV3)
    columns = {'DINOv3': results}
    core = ctx.results.get('core')
    if core:
        columns = {'DINOv2 (core)': core, 'DINOv3': results}
    print()
    print('Tiny DINOv3-architecture ViT, miniature RoadAnomaly-format set (pixel metrics in %)'
          + (', beside the core section\'s tiny DINOv2:' if core else ':'))
    header = ['score'] + [f'{m} {name}' if core else m for name in columns for m in METRICS]
    print(format_table(score_rows(columns), header))
    print()
    print(format_table([[f'after stage {i} {name}', f'{res["mIoU"][f"stage{i}"]:.2f}']
                        for name, res in columns.items() for i in (1, 2)],
                       ['inlier mIoU (miniature Cityscapes val)', 'mIoU']))
    print()
    print(heatmaps_line(ctx.path(DINOV3.folder('heatmaps'))))
    return results
