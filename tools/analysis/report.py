"""An HTML report of one or more test runs: ``python tools/analysis/report.py RUN [NAME=RUN ...]
--out DIR``.

A RUN is what ``tools/test.py --out RUN`` wrote: the anomaly maps (``maps.json`` + ``.npz``,
in RUN or RUN/maps[/<dataset>]), and beside them ``run.json`` (config, checkpoint, score,
dataset, date, runtime) and ``operating_point.json`` (the TPR-95% threshold) when the run
computed them. Runs are compared on the images they share (by image path).

``DIR/index.html`` is one self-contained static page (images embedded as data URIs, inline
SVG curves, a few lines of inline script to sort the table; no network, no external scripts
or fonts), readable from a file or a zip:

- the summary table of every run (pooled AP / FPR95 / AUROC, image-wise means, SMIYC
  component metrics, recall by size, false alarms, runtime, with score, config, checkpoint,
  dataset and date), and the PR and ROC curves of all runs overlaid;
- a per-image table (per run: AP, FPR at the run's threshold, the largest false-positive
  component; the anomaly area), sortable by any column;
- galleries of the frames with the largest false-positive area and the most missed anomaly
  pixels: input | ground truth | per run heat map and flagged pixels, all heat maps on one
  colour scale (its colour bar on the page).

Runs without labels get a page without metrics and a gallery of the highest-scoring frames.

``--normal NAME=RUN`` gives run NAME its false alarms on another run's frames without anomalies
(``tools/test.py --out`` of a ``*_test-cityscapes-inliers.py`` config with ``--threshold`` =
NAME's ``operating_point.json``): FA-img and FA-px at NAME's threshold on those frames, for a
test set such as RoadAnomaly that has no normal frame of its own.
"""
import os.path as osp
import sys

# this checkout's mmseg_uem first, whatever an installed or shared editable copy is
sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import argparse
import base64
import html
import io
import json
import math
import os
import time
from typing import Dict, List, Optional

import numpy as np
import torch
from matplotlib import colormaps
from PIL import Image
from scipy import ndimage

from mmseg_uem.apis.cli import add_debug_arg, run_cli
from mmseg_uem.evaluation.functional import (
    OOD_METRICS,
    image_pixel_metrics,
    operating_point_from_sorted,
    pr_roc_curves,
    sort_scores,
)
from mmseg_uem.evaluation.functional.component_metrics import EIGHT_CONNECTED
from mmseg_uem.evaluation.io import (
    MANIFEST,
    anomaly_map_path,
    iter_anomaly_maps,
    load_anomaly_map,
)
from mmseg_uem.evaluation.metrics import OoDMetric
from mmseg_uem.evaluation.operating_point import FILE_NAME as POINT_FILE
from mmseg_uem.evaluation.operating_point import load_operating_point

VOID = 255
THUMB_WIDTH = 360
COLOURS = ('#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2')
#: every metric of OoDMetric, then FA-px (reported with FA-img)
SUMMARY_COLUMNS = OOD_METRICS + ('FA-px', )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('runs', nargs='+', metavar='RUN', help='RUN or NAME=RUN: a '
                        'tools/test.py --out folder (or its maps folder)')
    parser.add_argument('--out', required=True, help='folder of the report (index.html)')
    parser.add_argument('--gallery-size', type=int, default=6,
                        help='frames per gallery (default 6)')
    parser.add_argument('--min-pred-size', type=int, default=500,
                        help='smallest predicted component of the component metrics and '
                        'FA-img (SMIYC anomaly track 500, obstacle track 50)')
    parser.add_argument('--min-gt-size', type=int, default=100,
                        help='GT components under this size become void (100 / 10)')
    parser.add_argument('--normal', action='append', default=[], metavar='NAME=RUN',
                        help='FA-img / FA-px of run NAME at its threshold on the frames of RUN, '
                        'a tools/test.py --out folder of frames without anomalies (e.g. a '
                        '*_test-cityscapes-inliers.py config); repeat for several runs')
    add_debug_arg(parser)
    return parser.parse_args()


# ------------------------------------------------------------------ reading runs
def find_maps(run: str) -> str:
    """The maps folder of a run: RUN, RUN/maps or the one RUN/maps/<dataset>."""
    for candidate in (run, osp.join(run, 'maps')):
        if osp.isfile(osp.join(candidate, MANIFEST)):
            return candidate
    sub = osp.join(run, 'maps')
    if osp.isdir(sub):
        found = [osp.join(sub, d) for d in sorted(os.listdir(sub))
                 if osp.isfile(osp.join(sub, d, MANIFEST))]
        if len(found) == 1:
            return found[0]
        if found:
            raise ValueError(f'{run} holds the maps of {len(found)} datasets '
                             f'({", ".join(found)}): name one of them')
    raise FileNotFoundError(f'{run} holds no anomaly maps ({MANIFEST}): pass a folder written '
                            'by tools/test.py --out')


def _read_json(path: str) -> Optional[dict]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as err:
            raise ValueError(f'{path} is not valid json: {err}') from err


class Run:
    """One run's maps, per-image statistics and dataset metrics."""

    def __init__(self, name: str, path: str, *, min_pred_size: int, min_gt_size: int):
        self.name, self.path = name, path
        self.maps_dir = find_maps(path)
        self.record = _read_json(osp.join(path, 'run.json')) or _read_json(
            osp.join(self.maps_dir, 'run.json')) or {}
        point = next((p for p in (osp.join(path, POINT_FILE),
                                  osp.join(self.maps_dir, POINT_FILE)) if osp.isfile(p)), None)
        self.point = load_operating_point(point) if point else None
        self.min_pred_size, self.min_gt_size = min_pred_size, min_gt_size
        self.images: Dict[str, dict] = {}  # img_path -> per-image stats
        self.normal: Optional[dict] = None  # --normal: the frames of its FA-img
        self.paths: Dict[str, str] = {}  # img_path -> its .npz
        self._load()

    def _load(self) -> None:
        pos, neg, labelled = [], [], []
        self.order: List[str] = []
        self.score_lo, self.score_hi = math.inf, -math.inf
        samples = []
        with open(osp.join(self.maps_dir, MANIFEST)) as f:
            names = sorted(json.load(f)['maps'])  # the order iter_anomaly_maps reads them in
        for name, item in zip(names, iter_anomaly_maps(self.maps_dir)):
            img = str(item['img_path'])
            self.paths[img] = anomaly_map_path(self.maps_dir, name)
            score = np.asarray(item['score'], np.float32)
            label = item.get('label')
            self.order.append(img)
            finite = score[np.isfinite(score)]
            if finite.size:
                lo, hi = np.percentile(finite, [1, 99])
                self.score_lo, self.score_hi = min(self.score_lo, lo), max(self.score_hi, hi)
            stats = dict(max_score=float(finite.max()) if finite.size else float('nan'))
            if label is not None:
                label = np.asarray(label)
                labelled.append(img)
                pos.append(score[label == 1])
                neg.append(score[label == 0])
                stats['anomaly_px'] = int((label == 1).sum())
                samples.append((img, score, label))
            self.images[img] = stats
        self.labelled = bool(labelled) and len(labelled) == len(self.order)
        if labelled and not self.labelled:
            raise ValueError(f'{self.maps_dir}: {len(labelled)} of {len(self.order)} maps have '
                             'labels; a run is scored on all its images or on none')
        self.metrics: Dict[str, float] = {}
        self.curves = None
        self.threshold = float(self.point['threshold']) if self.point else None
        if not self.labelled:
            return
        p = sort_scores(torch.from_numpy(np.concatenate(pos)), inplace=True)
        n = sort_scores(torch.from_numpy(np.concatenate(neg)), inplace=True)
        if p.numel() and n.numel():
            self.curves = pr_roc_curves(p, n, max_points=400)
            if self.threshold is None:
                self.threshold = operating_point_from_sorted(p, n)['threshold']
        # the dataset metrics: OoDMetric's own (their one owner), FA-img at the threshold
        self.metrics = self._ood_metrics(OOD_METRICS, samples)
        for img, score, label in samples:
            stats = self.images[img]
            m = image_pixel_metrics(torch.from_numpy(score), torch.from_numpy(label))
            stats['AP'] = m['AP'] if m else float('nan')
            if self.threshold is not None:
                flagged = (score >= self.threshold) & (label != VOID)
                inlier = label == 0
                stats['fp_px'] = int((flagged & inlier).sum())
                stats['fn_px'] = int(((label == 1) & ~flagged).sum())
                stats['FPR'] = stats['fp_px'] / max(int(inlier.sum()), 1) \
                    if inlier.any() else float('nan')
                comp, num = ndimage.label(flagged & inlier, structure=EIGHT_CONNECTED)
                stats['largest_fp'] = int(np.bincount(comp.ravel())[1:].max()) if num else 0

    def _ood_metrics(self, names, samples: List[tuple]) -> Dict[str, float]:
        """``OoDMetric(names)`` of ``(img, score, label)`` samples at this run's threshold
        (fractions)."""
        metric = OoDMetric(names, min_pred_size=self.min_pred_size,
                           min_gt_size=self.min_gt_size, fa_threshold=self.threshold)
        metric.process(None, [dict(pred_anomaly_score=dict(data=torch.from_numpy(s)[None]),
                                   gt_sem_seg=dict(data=torch.from_numpy(lab)[None]),
                                   img_path=img) for img, s, lab in samples])
        return {k: v / 100.0 for k, v in metric.compute_metrics(metric.results).items()}

    def score_normal_frames(self, path: str) -> None:
        """FA-img / FA-px at this run's threshold on the frames of another run (``path``)
        that have no anomaly pixels; errors name the run, the folder or the frame."""
        if self.threshold is None:
            raise ValueError(f'--normal {self.name}=...: run {self.name} has no threshold (no '
                             'operating_point.json and no labels to find its own)')
        if not math.isnan(self.metrics.get('FA-img', math.nan)):
            raise ValueError(f'--normal {self.name}=...: run {self.name} has frames without '
                             'anomalies of its own, on which its FA-img is measured')
        maps_dir = find_maps(path)
        score_name = self.record.get('score')
        samples = []
        for item in iter_anomaly_maps(maps_dir):
            img, label = str(item['img_path']), item.get('label')
            if label is None:
                raise ValueError(f'--normal {self.name}={path}: {img} has no labels; false '
                                 'alarms need the inlier / void labels of the normal frames')
            if (np.asarray(label) == 1).any():
                raise ValueError(f'--normal {self.name}={path}: {img} has anomaly pixels; '
                                 'give a run on frames without anomalies')
            if score_name and item.get('score_mode') not in (None, score_name):
                raise ValueError(f'--normal {self.name}={path}: its maps hold the '
                                 f'{item["score_mode"]} score, run {self.name} the {score_name} '
                                 'score')
            samples.append((img, np.asarray(item['score'], np.float32), np.asarray(label)))
        values = self._ood_metrics(['FA-img'], samples)
        self.metrics.update({k: values[k] for k in ('FA-img', 'FA-px')})
        self.normal = dict(path=path, frames=len(samples))

    def score_map(self, img: str) -> dict:
        return load_anomaly_map(self.paths[img])


# ------------------------------------------------------------------ pictures
def png_uri(array: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format='PNG', optimize=True)
    return 'data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode('ascii')


def _thumb(array: np.ndarray, nearest: bool = False) -> np.ndarray:
    h, w = array.shape[:2]
    if w <= THUMB_WIDTH:
        return array
    size = (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w)))
    return np.asarray(Image.fromarray(array).resize(
        size, Image.NEAREST if nearest else Image.BILINEAR))


def read_input(img_path: str, shape) -> np.ndarray:
    """The input image, or a grey frame saying it is missing (the maps may travel alone)."""
    if osp.isfile(img_path):
        image = np.asarray(Image.open(img_path).convert('RGB'))
        if image.shape[:2] == tuple(shape):
            return image
    return np.full((*shape, 3), 96, np.uint8)


def heat(score: np.ndarray, lo: float, hi: float, cmap) -> np.ndarray:
    scaled = np.clip((np.nan_to_num(score, nan=lo) - lo) / max(hi - lo, 1e-12), 0, 1)
    return (cmap(scaled)[..., :3] * 255).astype(np.uint8)


def gt_picture(label: np.ndarray) -> np.ndarray:
    out = np.zeros((*label.shape, 3), np.uint8)
    out[label == 0] = (40, 40, 40)
    out[label == 1] = (255, 140, 0)
    out[label == VOID] = (0, 0, 90)
    return out


def flagged_picture(image: np.ndarray, score: np.ndarray, threshold: float) -> np.ndarray:
    out = (image * 0.6).astype(np.uint8)
    out[score >= threshold] = (255, 0, 0)
    return out


def colour_bar(cmap, width: int = 300, height: int = 14) -> np.ndarray:
    ramp = np.linspace(0, 1, width)[None].repeat(height, 0)
    return (cmap(ramp)[..., :3] * 255).astype(np.uint8)


# ------------------------------------------------------------------ page
def _fmt(value, digits: int = 2, scale: float = 100.0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '–'
    return f'{scale * value:.{digits}f}'


def svg_curves(runs: List[Run], kind: str) -> str:
    """Inline SVG: PR (recall, precision) or ROC (fpr, tpr) curves of every labelled run."""
    size, pad = 320, 40
    x_key, y_key = ('recall', 'precision') if kind == 'PR' else ('fpr', 'tpr')
    parts = [f'<svg width="{size + 2 * pad}" '
             f'height="{size + 2 * pad}" role="img" aria-label="{kind} curves">',
             f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="#fff" '
             'stroke="#444"/>']
    for t in range(0, 11, 2):
        v = t / 10
        parts.append(f'<text x="{pad + v * size:.1f}" y="{pad + size + 16}" font-size="11" '
                     f'text-anchor="middle">{v:.1f}</text>')
        parts.append(f'<text x="{pad - 6}" y="{pad + (1 - v) * size + 4:.1f}" font-size="11" '
                     f'text-anchor="end">{v:.1f}</text>')
    parts.append(f'<text x="{pad + size / 2}" y="{pad + size + 32}" font-size="12" '
                 f'text-anchor="middle">{x_key}</text>')
    parts.append(f'<text x="12" y="{pad + size / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 12 {pad + size / 2})">{y_key}</text>')
    for i, run in enumerate(runs):
        if run.curves is None:
            continue
        xs, ys = run.curves[x_key].numpy(), run.curves[y_key].numpy()
        points = ' '.join(f'{pad + x * size:.1f},{pad + (1 - y) * size:.1f}'
                          for x, y in zip(xs, ys))
        parts.append(f'<polyline fill="none" stroke="{COLOURS[i % len(COLOURS)]}" '
                     f'stroke-width="1.6" points="{points}"/>')
    parts.append('</svg>')
    return ''.join(parts)


SORT_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = th.getAttribute('data-order') !== 'asc';
    table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('data-order'); });
    th.setAttribute('data-order', asc ? 'asc' : 'desc');
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
      if (isNaN(nx) !== isNaN(ny)) { c = isNaN(nx) ? 1 : -1; return c; }
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""

STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 13px; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 3px 6px; text-align: right; }
th { background: #eee; cursor: pointer; }
td.name, th.name { text-align: left; }
th[data-order=asc]::after { content: ' \\25B2'; } th[data-order=desc]::after { content: ' \\25BC'; }
.frame { display: flex; flex-wrap: wrap; gap: 6px; margin-bottom: 14px; }
.frame figure { margin: 0; } .frame figcaption { font-size: 12px; }
.note { background: #fff6d5; padding: 8px; border: 1px solid #e0c050; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; }
"""


def _cell(value, shown: str, cls: str = '') -> str:
    v = '' if value is None or (isinstance(value, float) and math.isnan(value)) else value
    return f'<td{f" class={cls}" if cls else ""} data-v="{html.escape(str(v))}">{shown}</td>'


def summary_table(runs: List[Run]) -> str:
    head = ['run', 'score', 'dataset', 'images', 'threshold', *SUMMARY_COLUMNS, 'img/s',
            'ms/image', 'config', 'checkpoint', 'date']
    rows = []
    for i, run in enumerate(runs):
        rec, timing = run.record, run.record.get('runtime') or {}
        cells = [f'<td class=name><span class=swatch style="background:'
                 f'{COLOURS[i % len(COLOURS)]}"></span>{html.escape(run.name)}</td>',
                 f'<td class=name>{html.escape(str(rec.get("score") or "–"))}</td>',
                 f'<td class=name>{html.escape(str(rec.get("dataset") or "–"))}</td>',
                 f'<td>{len(run.order)}</td>',
                 f'<td>{"–" if run.threshold is None else f"{run.threshold:.4g}"}</td>']
        cells += [f'<td>{_fmt(run.metrics.get(m))}</td>' for m in SUMMARY_COLUMNS]
        cells += [f'<td>{_fmt(timing.get("images_per_s"), scale=1)}</td>',
                  f'<td>{_fmt(timing.get("ms_per_image"), 1, scale=1)}</td>']
        cells += [f'<td class=name>{html.escape(str(rec.get(k) or "–"))}</td>'
                  for k in ('config', 'checkpoint', 'date')]
        rows.append('<tr>' + ''.join(cells) + '</tr>')
    return ('<table id=summary><thead><tr>' + ''.join(
        f'<th class=name>{h}</th>' if i < 3 else f'<th>{h}</th>' for i, h in enumerate(head))
        + '</tr></thead><tbody>' + ''.join(rows) + '</tbody></table>')


def image_table(runs: List[Run], images: List[str]) -> str:
    head = ['image', 'anomaly px']
    for run in runs:
        head += [f'AP ({run.name})', f'FPR@t ({run.name})', f'largest FP px ({run.name})']
    rows = []
    for img in images:
        area = runs[0].images[img].get('anomaly_px')
        cells = [_cell(osp.basename(img), html.escape(osp.basename(img)), 'name'),
                 _cell(area, str(area))]
        for run in runs:
            s = run.images[img]
            cells += [_cell(s.get('AP'), _fmt(s.get('AP'))),
                      _cell(s.get('FPR'), _fmt(s.get('FPR'))),
                      _cell(s.get('largest_fp'), str(s.get('largest_fp', '–')))]
        rows.append('<tr>' + ''.join(cells) + '</tr>')
    return ('<table id=images class=sortable><thead><tr>' + ''.join(
        f'<th class=name>{h}</th>' if i == 0 else f'<th>{html.escape(h)}</th>'
        for i, h in enumerate(head)) + '</tr></thead><tbody>' + ''.join(rows)
        + '</tbody></table>')


def gallery(runs: List[Run], images: List[str], *, lo: float, hi: float, cmap,
            labelled: bool) -> str:
    out = []
    for img in images:
        maps = [run.score_map(img) for run in runs]
        score0 = np.asarray(maps[0]['score'])
        image = read_input(img, score0.shape)
        figs = [('input', _thumb(image))]
        if labelled and maps[0].get('label') is not None:
            figs.append(('ground truth', _thumb(gt_picture(np.asarray(maps[0]['label'])),
                                                nearest=True)))
        for run, item in zip(runs, maps):
            score = np.asarray(item['score'])
            figs.append((f'{run.name}: heat map', _thumb(heat(score, lo, hi, cmap))))
            if run.threshold is not None:
                figs.append((f'{run.name}: score &ge; {run.threshold:.4g}',
                             _thumb(flagged_picture(image, score, run.threshold),
                                    nearest=True)))
        out.append(f'<h4>{html.escape(osp.basename(img))}</h4><div class=frame>' + ''.join(
            f'<figure><img src="{png_uri(a)}" alt="{html.escape(c)}" width="{a.shape[1]}">'
            f'<figcaption>{c}</figcaption></figure>' for c, a in figs) + '</div>')
    return ''.join(out)


def build_report(runs: List[Run], out_dir: str, *, gallery_size: int = 6) -> str:
    shared = [img for img in runs[0].order if all(img in r.images for r in runs[1:])]
    if not shared:
        raise ValueError('the runs share no image (compared by image path): '
                         + ', '.join(f'{r.name}: {r.order[0]}' for r in runs))
    labelled = all(r.labelled for r in runs)
    lo = min(r.score_lo for r in runs)
    hi = max(r.score_hi for r in runs)
    cmap = colormaps['inferno']
    parts = ['<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
             '<title>Anomaly segmentation report</title>', f'<style>{STYLE}</style></head>',
             '<body><h1>Anomaly segmentation report</h1>',
             f'<p>{len(runs)} run(s), {len(shared)} image(s) compared. Metrics in percent, '
             'recomputed from the saved maps (pooled over pixels; "-img": mean over the images '
             'with anomaly and inlier pixels; recall by GT component area &lt;1,024 / '
             '&lt;9,216 / larger px at sIoU &ge; 0.5; FA-img / FA-px on the frames without '
             "anomalies); threshold t: the run's operating_point.json, else its TPR-95% "
             'threshold.</p>']
    if not labelled:
        parts.append('<p class=note>No labels: ' + ', '.join(
            html.escape(r.name) for r in runs if not r.labelled) + ' saved no ground truth, '
            'so there are no metrics, curves or per-image table; the gallery shows the frames '
            'with the highest scores.</p>')
    parts.append('<h2>Summary</h2>' + summary_table(runs))
    normal = [r for r in runs if r.normal]
    if normal:
        parts.append('<p>FA-img / FA-px at the run\'s threshold on the frames without anomalies '
                     'of ' + '; '.join(f'{html.escape(r.name)}: {r.normal["frames"]} frames of '
                                       f'{html.escape(r.normal["path"])}' for r in normal)
                     + '.</p>')
    if labelled:
        parts.append('<h2>Curves</h2><div class=frame>' + svg_curves(runs, 'PR')
                     + svg_curves(runs, 'ROC') + '</div>')
        parts.append('<h2>Per image</h2><p>Click a column to sort.</p>'
                     + image_table(runs, shared))
    parts.append(f'<h2>Colour scale</h2><p>Every heat map: {lo:.4g} '
                 f'<img src="{png_uri(colour_bar(cmap))}" alt="colour bar" width="300" '
                 f'height="14"> {hi:.4g} (1st to 99th percentile of all runs\' scores)</p>')
    k = gallery_size
    if labelled:
        def worst(key):
            return sorted(shared, key=lambda i: -max(r.images[i].get(key, 0) for r in runs))

        fp = [i for i in worst('fp_px') if max(r.images[i].get('fp_px', 0) for r in runs)][:k]
        fn = [i for i in worst('fn_px') if max(r.images[i].get('fn_px', 0) for r in runs)][:k]
        parts.append('<h2>Worst false positives</h2><p>Frames with the most inlier pixels '
                     'flagged at the threshold (largest over the runs).</p>'
                     + (gallery(runs, fp, lo=lo, hi=hi, cmap=cmap, labelled=True)
                        or '<p>None.</p>'))
        parts.append('<h2>Most missed anomaly pixels</h2><p>Frames with the most anomaly '
                     'pixels below the threshold.</p>'
                     + (gallery(runs, fn, lo=lo, hi=hi, cmap=cmap, labelled=True)
                        or '<p>None.</p>'))
    else:
        top = sorted(shared, key=lambda i: -max(r.images[i]['max_score'] for r in runs))[:k]
        parts.append('<h2>Highest scores</h2>' + gallery(runs, top, lo=lo, hi=hi, cmap=cmap,
                                                           labelled=False))
    parts.append(f'<script>{SORT_SCRIPT}</script></body></html>')
    os.makedirs(out_dir, exist_ok=True)
    path = osp.join(out_dir, 'index.html')
    with open(path, 'w') as f:
        f.write(''.join(parts))
    return path


def main() -> None:
    args = parse_args()
    start = time.perf_counter()
    runs = []
    for spec in args.runs:
        name, path = spec.split('=', 1) if '=' in spec else (
            osp.basename(osp.normpath(spec)), spec)
        runs.append(Run(name, path, min_pred_size=args.min_pred_size,
                        min_gt_size=args.min_gt_size))
    by_name = {run.name: run for run in runs}
    for spec in args.normal:
        name, sep, path = spec.partition('=')
        if not sep or name not in by_name:
            raise SystemExit(f'--normal {spec}: give NAME=RUN with NAME one of the runs '
                             f'{sorted(by_name)}')
        by_name[name].score_normal_frames(path)
    path = build_report(runs, args.out, gallery_size=args.gallery_size)
    print(f'report: {path} ({osp.getsize(path) / 1e6:.1f} MB, {len(runs)} runs, '
          f'{time.perf_counter() - start:.1f} s)')


if __name__ == '__main__':
    run_cli(main)
