"""The demo's sections in order, choosing some, and running them."""
import json
import os.path as osp
import time
from typing import Dict, List, Optional, Sequence

from .context import ROOT, DemoContext, DemoSection, log, make_data
from .core import run_core
from .dinov3 import run_dinov3
from .evaluation import run_evaluation
from .stock import run_stock
from .table4 import run_table4

#: the demo, in order (``make demo`` runs all; ``tools/demo.py --sections`` picks)
SECTIONS: List[DemoSection] = [
    DemoSection('core', 'stage 1 + stage 2 (G-D), ID / OoD / LR scores and mIoU', run_core),
    DemoSection('table4', 'Table 4: UEM vs RbA vs PEBAL from one D network, OoD AP / FPR95 '
                'with each one\'s score, mIoU before / after', run_table4, requires=('core', )),
    DemoSection('stock', 'a UEM on a stock mmseg DeepLabV3+: its MSP / MaxLogit / Energy vs '
                'the UEM, mIoU before and after', run_stock),
    DemoSection('dinov3', 'stage 1 + stage 2 (G-D) on a tiny DINOv3-architecture ViT (RoPE, '
                'storage tokens, LayerScale), its table beside the core one', run_dinov3),
    DemoSection('evaluation', 'the core stage-2 model with every metric (image-wise, by '
                'anomaly size, false alarms on normal frames, runtime), OoDIS instances and '
                'the HTML report of its LR and ID runs', run_evaluation, requires=('core', )),
]


def select_sections(names: Optional[Sequence[str]] = None) -> List[DemoSection]:
    """The sections ``names`` (None: all) plus the ones they require, in demo order."""
    by_name = {s.name: s for s in SECTIONS}
    wanted = list(by_name) if names is None else list(names)
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise ValueError(f'unknown demo section(s) {unknown}; valid: {list(by_name)}')
    chosen = set()
    while wanted:
        name = wanted.pop()
        if name not in chosen:
            chosen.add(name)
            wanted.extend(by_name[name].requires)
    return [s for s in SECTIONS if s.name in chosen]


def run_demo(work_dir: str = 'work_dirs/demo',
             sections: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    """Generate the data, run the chosen sections; returns (and writes to
    ``<work_dir>/demo_results.json``) each section's numbers under its name."""
    start = time.time()
    chosen = select_sections(sections)
    work_dir = osp.join(ROOT, work_dir) if not osp.isabs(work_dir) else work_dir
    ctx = DemoContext(work_dir, osp.join(work_dir, 'data'))
    log(f'sections: {", ".join(s.name for s in chosen)}; everything goes to {work_dir}')
    make_data(ctx.data_root)
    for section in chosen:
        log(f'section {section.name}: {section.help}')
        ctx.results[section.name] = section.run(ctx)
    print(f'wall time: {time.time() - start:.0f} s')
    with open(ctx.path('demo_results.json'), 'w') as f:
        json.dump(ctx.results, f, indent=2)
    return ctx.results
