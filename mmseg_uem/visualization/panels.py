"""Drawing of anomaly predictions: input | prediction | [ground truth] | heat map | [flagged].

Shape key: H, W image (score map) size.

Array-level and framework-free (numpy, OpenCV, matplotlib colour maps; no torch, no data
samples), so the test hook, :class:`~mmseg_uem.apis.UEMInferencer`, ``tools/infer.py`` and an
exported model's runner draw the same picture from plain arrays. Each panel has a title
strip above it; the prediction and ground-truth panels carry a legend of the classes they
show, the heat map a colour bar with its numeric range, so pictures drawn with one
``score_range`` can be compared colour for colour.
"""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from ..utils.labels import IGNORE_INDEX

GAP = 8  # white pixels between panels
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE, _BLACK = (255, 255, 255), (0, 0, 0)
#: colours of the ground-truth panel: inlier, anomaly, void
GT_COLOURS = ((90, 90, 90), (255, 255, 255), (0, 0, 0))
GT_NAMES = ('inlier', 'anomaly', 'void')
FLAG_COLOUR = (255, 0, 0)  # pixels above the threshold, blended over the input
FLAG_ALPHA = 0.6
THRESHOLD_COLOUR = (0, 255, 255)  # threshold mark on the colour bar


def colorize_labels(labels: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """(H, W) class ids -> (H, W, 3) uint8 RGB; ids outside the palette are black."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8).reshape(-1, 3)
    return lut[np.clip(labels, 0, 255).astype(np.int64)]


def resolve_score_range(scores: np.ndarray,
                        score_range: Optional[Sequence[float]] = None) -> Tuple[float, float]:
    """``score_range`` as (low, high) floats, or the finite min / max of ``scores``.

    A fixed range is what makes colours comparable across images (``--score-range``); the
    per-image default stretches every map over the whole colour map.
    """
    if score_range is not None:
        lo, hi = (float(v) for v in score_range)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f'score_range must be two finite numbers low < high, got '
                             f'{tuple(score_range)}')
        return lo, hi
    finite = scores[np.isfinite(scores)]
    if not finite.size:
        return 0.0, 1.0
    lo, hi = float(finite.min()), float(finite.max())
    return (lo, hi) if hi > lo else (lo - 0.5, lo + 0.5)


def heat_map(scores: np.ndarray, *, cmap: str = 'inferno',
             score_range: Optional[Sequence[float]] = None) -> np.ndarray:
    """(H, W) scores -> (H, W, 3) uint8 RGB; values outside the range are clipped to it."""
    lo, hi = resolve_score_range(scores, score_range)
    scaled = (np.nan_to_num(scores.astype(np.float64), nan=lo, posinf=hi, neginf=lo) - lo) / (
        hi - lo)
    rgba = _colour_map(cmap)(np.clip(scaled, 0.0, 1.0))
    return (rgba[..., :3] * 255).round().astype(np.uint8)


def flagged_overlay(image: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """The input with the pixels whose score is >= ``threshold`` blended in red (the rule
    FPR95 is measured with)."""
    out = image.copy()
    mask = scores >= threshold
    out[mask] = (FLAG_ALPHA * np.asarray(FLAG_COLOUR) + (1 - FLAG_ALPHA) * image[mask]).round()
    return out


def text_scale(height: int) -> float:
    """OpenCV font scale for panels ``height`` pixels high (readable from 100 to 2000 px)."""
    return float(np.clip(height / 450.0, 0.3, 2.0))


def title_height(height: int) -> int:
    """Height in pixels of the title strip drawn above panels of ``height`` pixels."""
    scale = text_scale(height)
    (_, text_h), baseline = cv2.getTextSize('Ag', _FONT, scale, _thickness(scale))
    return text_h + baseline + 2 * _pad(scale)


def draw_anomaly_panels(image: np.ndarray,
                        scores: np.ndarray,
                        *,
                        pred: Optional[np.ndarray] = None,
                        gt: Optional[np.ndarray] = None,
                        threshold: Optional[float] = None,
                        threshold_name: Optional[str] = None,
                        score_range: Optional[Sequence[float]] = None,
                        score_name: Optional[str] = None,
                        cmap: str = 'inferno',
                        classes: Optional[Sequence[str]] = None,
                        palette: Optional[Sequence[Sequence[int]]] = None,
                        ignore_index: int = IGNORE_INDEX,
                        max_legend: int = 8) -> np.ndarray:
    """One picture of a prediction: titled panels side by side, separated by ``GAP``.

    Panels: 'input'; 'prediction' (``pred``, with a legend of its largest classes);
    'ground truth' (``gt`` in {0 inlier, 1 anomaly, ``ignore_index`` void}, with a legend);
    'anomaly score' (heat map with a colour bar labelled with the range and, if given, the
    threshold); 'score >= t' (the input with the pixels at or above ``threshold`` in red).

    Args:
        image: (H, W, 3) uint8 RGB; resized to the score map's size if it differs.
        scores: (H, W) anomaly score, higher = more anomalous.
        pred: (H, W) predicted class ids, or None (no prediction panel).
        gt: (H, W) OoD labels, or None (no ground-truth panel).
        threshold: score above which a pixel is flagged, or None (no flagged panel).
        threshold_name: what the threshold is (e.g. 'TPR 95%'), shown in the title.
        score_range: (low, high) of the colour map; None = the map's finite min / max.
        score_name: the score's name (e.g. 'LLR'), shown in the heat map's title.
        cmap: matplotlib colour map of the heat map.
        classes, palette: names and RGB colours of the class ids; None = Cityscapes.
        ignore_index: void value of ``gt``.
        max_legend: most classes listed in the prediction's legend (largest areas first).

    Returns:
        (title_height(H) + H, total width, 3) uint8 RGB.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError(f'scores must be (H, W), got shape {scores.shape}')
    height, width = scores.shape
    image = _to_size(_check_image(image), height, width, 'bilinear')
    lo, hi = resolve_score_range(scores, score_range)
    scale = text_scale(height)

    titles = panel_titles(pred=pred is not None, gt=gt is not None, threshold=threshold,
                          threshold_name=threshold_name, score_name=score_name)
    panels = [_titled(titles.pop(0), image, scale)]
    if pred is not None:
        classes, palette = _class_meta(classes, palette)
        pred = _to_size(np.asarray(pred), height, width, 'nearest')
        ids, counts = np.unique(pred, return_counts=True)
        shown = [int(i) for i in ids[np.argsort(-counts, kind='stable')][:max_legend]]
        entries = [(classes[i] if 0 <= i < len(classes) else str(i),
                    tuple(palette[i]) if 0 <= i < len(palette) else _BLACK) for i in shown]
        # legend as wide as the longest class name: pictures of one model share one layout
        body = _beside(colorize_labels(pred, palette),
                       _legend(entries, height, scale, width_names=classes))
        panels.append(_titled(titles.pop(0), body, scale))
    if gt is not None:
        gt = _to_size(np.asarray(gt), height, width, 'nearest')
        codes = np.where(gt == 1, 1, np.where(gt == 0, 0, 2))
        body = _beside(colorize_labels(codes, GT_COLOURS),
                       _legend(list(zip(GT_NAMES, GT_COLOURS)), height, scale))
        panels.append(_titled(titles.pop(0), body, scale))
    heat = heat_map(scores, cmap=cmap, score_range=(lo, hi))
    panels.append(_titled(titles.pop(0), _beside(heat, _colour_bar(lo, hi, height, scale, cmap,
                                                                   threshold)), scale))
    if threshold is not None:
        panels.append(_titled(titles.pop(0), flagged_overlay(image, scores, threshold), scale))
    return side_by_side(panels)


def panel_titles(*, pred: bool, gt: bool, threshold: Optional[float] = None,
                 threshold_name: Optional[str] = None,
                 score_name: Optional[str] = None) -> List[str]:
    """The titles of the panels :func:`draw_anomaly_panels` draws, left to right, for a
    prediction with / without classes (``pred``), ground truth (``gt``) and a threshold."""
    titles = ['input'] + ['prediction'] * pred + ['ground truth'] * gt
    titles.append('anomaly score' + (f' ({score_name})' if score_name else ''))
    if threshold is not None:
        titles.append(f'score >= {threshold:.3g}'
                      + (f' ({threshold_name})' if threshold_name else ''))
    return titles


def side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenate (H, W_i, 3) uint8 panels horizontally with white gaps."""
    height = panels[0].shape[0]
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts: List[np.ndarray] = []
    for panel in panels:
        parts += [panel, gap]
    return np.concatenate(parts[:-1], axis=1)


# ------------------------------------------------------------------ helpers
def _colour_map(name: str):
    import matplotlib  # here, not at the top: registering the plugin needs no matplotlib

    if name not in matplotlib.colormaps:
        raise KeyError(f'unknown matplotlib colour map {name!r}')
    return matplotlib.colormaps[name]


def _class_meta(classes, palette) -> tuple:
    if classes is None or palette is None:
        from mmseg.utils import get_classes, get_palette

        classes = classes if classes is not None else get_classes('cityscapes')
        palette = palette if palette is not None else get_palette('cityscapes')
    return list(classes), [tuple(int(c) for c in p) for p in palette]


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be (H, W, 3) RGB, got shape {image.shape}')
    return image if image.dtype == np.uint8 else np.clip(image, 0, 255).astype(np.uint8)


def _to_size(array: np.ndarray, height: int, width: int, how: str) -> np.ndarray:
    array = array.reshape(array.shape[-2:]) if array.ndim == 3 and array.shape[0] == 1 \
        else array
    if array.shape[:2] == (height, width):
        return array
    interpolation = cv2.INTER_NEAREST if how == 'nearest' else cv2.INTER_LINEAR
    dtype = array.dtype
    work = array.astype(np.int32) if how == 'nearest' and dtype != np.uint8 else array
    # cv2 has no int64 nearest resize: ids go through int32 (class ids fit)
    return cv2.resize(work, (width, height), interpolation=interpolation).astype(dtype)


def _thickness(scale: float) -> int:
    return max(1, int(round(scale * 1.6)))


def _pad(scale: float) -> int:
    return max(2, int(round(6 * scale)))


def _text_width(text: str, scale: float) -> int:
    return cv2.getTextSize(text, _FONT, scale, _thickness(scale))[0][0]


def _put_text(canvas: np.ndarray, text: str, x: int, baseline_y: int, scale: float,
              colour=_BLACK) -> None:
    cv2.putText(canvas, text, (x, baseline_y), _FONT, scale, colour, _thickness(scale),
                cv2.LINE_AA)


def _titled(title: str, body: np.ndarray, scale: float) -> np.ndarray:
    """``body`` with a white title strip of ``title_height`` above it."""
    strip_h = title_height(body.shape[0])
    strip = np.full((strip_h, body.shape[1], 3), 255, np.uint8)
    _, baseline = cv2.getTextSize('Ag', _FONT, scale, _thickness(scale))
    _put_text(strip, title, _pad(scale), strip_h - baseline - _pad(scale), scale)
    return np.concatenate([strip, body], axis=0)


def _beside(body: np.ndarray, side: np.ndarray) -> np.ndarray:
    return np.concatenate([body, side], axis=1)


def _legend(entries: Sequence[Tuple[str, Sequence[int]]], height: int, scale: float,
            width_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """A white column: one colour swatch and name per entry, as many as fit in ``height``;
    as wide as the longest of ``width_names`` (default: of the entries' names)."""
    pad = _pad(scale)
    (_, text_h), baseline = cv2.getTextSize('Ag', _FONT, scale, _thickness(scale))
    row = text_h + baseline + pad
    fit = max(1, (height - pad) // row)
    entries = list(entries)[:fit]
    swatch = text_h + baseline
    names = list(width_names) if width_names is not None else [n for n, _ in entries]
    width = 3 * pad + swatch + max((_text_width(str(n), scale) for n in names), default=0)
    column = np.full((height, width, 3), 255, np.uint8)
    for k, (name, colour) in enumerate(entries):
        top = pad + k * row
        if top + swatch > height:
            break
        column[top:top + swatch, pad:pad + swatch] = colour
        cv2.rectangle(column, (pad, top), (pad + swatch - 1, top + swatch - 1), (128, 128, 128), 1)
        _put_text(column, name, 2 * pad + swatch, top + text_h, scale)
    return column


def colour_bar_labels(lo: float, hi: float, threshold: Optional[float], *, top: int,
                      bottom: int, gap: int) -> List[Tuple[str, int, bool]]:
    """(text, row, is_threshold) of the colour bar's labels: ``hi`` at ``top``, the middle,
    ``lo`` at ``bottom - 1`` and the threshold at its height if it lies in [lo, hi]. A range
    label closer than ``gap`` rows (a text line) to the threshold's is left out, so that no
    two labels overlap and the threshold stays readable."""
    ticks = [(hi, top), ((lo + hi) / 2, (top + bottom) // 2), (lo, bottom - 1)]
    labels = [(f'{v:.3g}', y, False) for v, y in ticks]
    if threshold is not None and lo <= threshold <= hi:
        y = int(round(bottom - 1 - (threshold - lo) / (hi - lo or 1.0) * (bottom - 1 - top)))
        labels = [label for label in labels if abs(label[1] - y) >= gap]
        labels.append((f'{threshold:.3g}', y, True))
    return labels


def _colour_bar(lo: float, hi: float, height: int, scale: float, cmap: str,
                threshold: Optional[float]) -> np.ndarray:
    """A white column with a vertical colour bar (``hi`` at the top) and tick labels."""
    pad = _pad(scale)
    (_, text_h), _ = cv2.getTextSize('0', _FONT, scale, _thickness(scale))
    bar_w = max(6, int(round(14 * scale)))
    top, bottom = min(text_h // 2 + 1, height - 1), max(height - text_h // 2 - 1, 1)
    labels = colour_bar_labels(lo, hi, threshold, top=top, bottom=bottom, gap=text_h + pad)
    # as wide as every label, left out or not: the picture's layout does not depend on them
    texts = [f'{v:.3g}' for v in (hi, (lo + hi) / 2, lo)] + [t for t, _, _ in labels]
    width = 3 * pad + bar_w + max(_text_width(text, scale) for text in texts)
    column = np.full((height, width, 3), 255, np.uint8)
    ramp = np.linspace(1.0, 0.0, max(bottom - top, 1))
    colours = (_colour_map(cmap)(ramp)[:, :3] * 255).round().astype(np.uint8)
    column[top:top + len(ramp), pad:pad + bar_w] = colours[:, None, :]
    for text, y, is_threshold in labels:
        colour = THRESHOLD_COLOUR if is_threshold else _BLACK
        if is_threshold:
            column[max(y - 1, 0):y + 1, pad:pad + bar_w] = colour
        y_text = int(np.clip(y + text_h // 2, text_h, height - 1))
        _put_text(column, text, 2 * pad + bar_w, y_text,
                  scale, (0, 128, 160) if is_threshold else colour)
    return column
