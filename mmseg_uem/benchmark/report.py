"""Versions, device and the Markdown table of a benchmark run."""
import os
import platform
from typing import Dict, List, Optional

import torch


def environment(device: torch.device) -> Dict[str, str]:
    import mmcv
    import mmengine
    import mmseg
    env = dict(python=platform.python_version(), torch=torch.__version__,
               mmcv=mmcv.__version__, mmengine=mmengine.__version__, mmseg=mmseg.__version__,
               device=str(device), cpu=platform.processor() or platform.machine(),
               threads=str(torch.get_num_threads()))
    try:
        import mmpretrain
        env['mmpretrain'] = mmpretrain.__version__
    except ImportError:
        env['mmpretrain'] = 'not installed'
    try:
        import timm
        env['timm'] = timm.__version__
    except ImportError:
        env['timm'] = 'not installed'
    if device.type == 'cuda':
        env['gpu'] = torch.cuda.get_device_name(device)
        env['cuda'] = str(torch.version.cuda)
    return env


def markdown(rows: List[dict], env: Dict[str, str], settings: Dict[str, object],
             syncs: Optional[Dict[str, int]] = None) -> str:
    head = ('| section | model | precision | images/s (median) | images/s (best) | peak MiB | '
            'of which extra | vs backbone fwd | vs stock | max abs diff |')
    lines = [head, '|' + '---|' * 10]

    def fmt(value, spec):
        return '' if value is None else format(value, spec)
    for r in rows:
        lines.append(f"| {r['section']} | {r['name']} | {r['precision']} | "
                     f"{r['images_per_s']:.3g} | {r['best_images_per_s']:.3g} | "
                     f"{r['peak_mib']:.0f} | {r['extra_mib']:.0f} | "
                     f"{fmt(r.get('vs_backbone'), '.3f')} | {fmt(r.get('vs_stock'), '.2f')} | "
                     f"{fmt(r.get('max_abs_diff'), '.2e')} |")
    lines += ['', 'images/s: median (and fastest) of the timed runs. peak MiB: resident weights, '
              'buffers and optimizer state of that model + the extra memory of one call '
              '(CUDA allocator peak; CPU sampled RSS, a lower bound). vs backbone fwd: '
              'images/s over our backbone forward\'s in the same precision. vs stock: speed-up '
              'over mmseg\'s one-window loop. max abs diff: backbone rows, final map vs ours at '
              'the stored grid (same weights); inference rows, ours vs stock LLR maps.',
              'settings: ' + ', '.join(f'{k}={v}' for k, v in settings.items()),
              'environment: ' + ', '.join(f'{k}={v}' for k, v in env.items())]
    if syncs is not None:
        how = ('CUDA sync debug mode' if env.get('device', '').startswith('cuda')
               else 'SyncAudit, forward + backward')
        lines += ['', f'host-device syncs in one training step ({how}):']
        cwd = os.getcwd() + os.sep
        lines += [f"- {n}x {loc[len(cwd):] if loc.startswith(cwd) else loc}"
                  for loc, n in syncs.items()] or ['- none']
    return '\n'.join(lines)
