"""Foreign objects for the miniature data: shapes, masks and saturated textures.

Two families share one nature (saturated, high-contrast patterned objects, which never
occur in the muted street scenes of :mod:`.scene`) but differ in hues and patterns, so a
model trained with pasted ``'coco'`` objects is tested on unseen ``'anomaly'`` objects:

- ``'coco'``: stripes and checkerboards in magenta / cyan / orange / lime;
- ``'anomaly'``: dots and rings in purple / pink / yellow / turquoise / red.

Polygons use COCO's flat ``[x1, y1, x2, y2, ...]`` layout and are rasterised with
pycocotools, so an object's pixels and its annotation mask are the same pixels.
"""
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

# OpenCV hue units (0-180). Families are disjoint in hue and pattern.
_FAMILY_HUES = {
    'coco': (150, 90, 15, 45),
    'anomaly': (135, 165, 28, 80, 0),
}
_FAMILY_PATTERNS = {
    'coco': ('stripes', 'checker'),
    'anomaly': ('dots', 'rings'),
}
FAMILIES = tuple(_FAMILY_HUES)

Polygon = List[float]


def star_polygon(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float,
                 *, num_vertices: int = 12, jitter: float = 0.35) -> Polygon:
    """A star-shaped (never self-intersecting) polygon around ``(cx, cy)``.

    Radii are ``r * (1 - jitter * u)`` with ``u ~ U(0, 1)`` per vertex at sorted angles.
    """
    angles = np.sort(rng.uniform(0, 2 * np.pi, num_vertices))
    radius = 1.0 - jitter * rng.uniform(0, 1, num_vertices)
    xs = cx + rx * radius * np.cos(angles)
    ys = cy + ry * radius * np.sin(angles)
    return np.stack([xs, ys], axis=1).reshape(-1).round(2).tolist()


def _box_polygon(x0: float, y0: float, x1: float, y1: float) -> Polygon:
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def object_polygons(rng: np.random.Generator, kind: str, *, cx: float, cy: float,
                    h: float, w: float) -> List[Polygon]:
    """Polygons of one object roughly filling an ``h x w`` box centred at ``(cx, cy)``.

    ``kind``: ``'blob'`` (one star polygon), ``'animal'`` (body, head and four legs: a
    multi-polygon segmentation as COCO has for occluded objects) or ``'crowd'`` (several
    small blobs, used for ``iscrowd=1`` RLE annotations).
    """
    if kind == 'blob':
        return [star_polygon(rng, cx, cy, w / 2, h / 2)]
    if kind == 'animal':
        body_h, body_w = 0.45 * h, 0.7 * w
        body_cy = cy - 0.1 * h
        polys = [star_polygon(rng, cx, body_cy, body_w / 2, body_h / 2, jitter=0.1)]
        head_cx = cx + rng.choice([-1, 1]) * 0.38 * w
        polys.append(star_polygon(rng, head_cx, cy - 0.32 * h, 0.14 * w, 0.16 * h, jitter=0.1))
        leg_top, leg_bottom = body_cy + 0.15 * h, cy + h / 2
        for frac in (-0.28, -0.12, 0.12, 0.28):
            lx = cx + frac * w
            polys.append(_box_polygon(lx - 0.03 * w, leg_top, lx + 0.03 * w, leg_bottom))
        return polys
    if kind == 'crowd':
        polys = []
        for _ in range(int(rng.integers(3, 6))):
            bx = cx + rng.uniform(-0.35, 0.35) * w
            by = cy + rng.uniform(-0.3, 0.3) * h
            polys.append(star_polygon(rng, bx, by, 0.15 * w, 0.2 * h, num_vertices=8))
        return polys
    raise ValueError(f"unknown object kind {kind!r}; use 'blob', 'animal' or 'crowd'")


def rasterize(polygons: Sequence[Polygon], height: int, width: int) -> np.ndarray:
    """Union mask (H, W) bool of COCO polygons, rasterised exactly as pycocotools does."""
    rles = mask_utils.frPyObjects([list(p) for p in polygons], height, width)
    return mask_utils.decode(mask_utils.merge(rles)).astype(bool)


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE of a (H, W) mask, as used by ``iscrowd=1`` annotations.

    Runs alternate 0 / 1 starting with zeros, over the pixels in column-major order.
    """
    flat = np.asarray(mask, dtype=np.uint8).reshape(-1, order='F')
    change = np.flatnonzero(np.diff(flat)) + 1  # indices where a new run starts
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        counts = [0] + counts  # the first run must count zeros
    return dict(counts=counts, size=[int(mask.shape[0]), int(mask.shape[1])])


def _hsv_to_rgb(h: int, s: int, v: int) -> np.ndarray:
    hsv = np.array([[[h, s, v]]], dtype=np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def foreign_texture(rng: np.random.Generator, height: int, width: int, *,
                    family: str) -> np.ndarray:
    """A saturated two-colour patterned fill (H, W, 3) uint8 RGB of one object family."""
    if family not in _FAMILY_HUES:
        raise ValueError(f'unknown object family {family!r}; use one of {FAMILIES}')
    hues = rng.choice(_FAMILY_HUES[family], size=2, replace=False)
    first = _hsv_to_rgb(int(hues[0]), int(rng.integers(200, 256)), int(rng.integers(190, 256)))
    second = _hsv_to_rgb(int(hues[1]), int(rng.integers(200, 256)), int(rng.integers(120, 200)))
    pattern = rng.choice(_FAMILY_PATTERNS[family])
    period = float(rng.uniform(4, 9))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if pattern == 'stripes':
        angle = rng.uniform(0, np.pi)
        sel = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * np.pi / period) > 0
    elif pattern == 'checker':
        sel = ((xs // period) + (ys // period)) % 2 == 0
    elif pattern == 'dots':
        sel = ((xs % (2 * period) - period) ** 2 + (ys % (2 * period) - period) ** 2
               < (0.6 * period) ** 2)
    else:  # rings around a random centre
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        sel = np.sin(np.hypot(ys - cy, xs - cx) * np.pi / period) > 0
    tex = np.where(sel[..., None], first, second)
    tex += rng.normal(0, 6, tex.shape)
    return np.clip(tex, 0, 255).astype(np.uint8)


def paint_object(rng: np.random.Generator, image: np.ndarray, polygons: Sequence[Polygon], *,
                 family: str) -> np.ndarray:
    """Paint a foreign object into ``image`` (H, W, 3) RGB in place; return its mask (H, W)."""
    height, width = image.shape[:2]
    mask = rasterize(polygons, height, width)
    image[mask] = foreign_texture(rng, height, width, family=family)[mask]
    return mask


def mask_bbox(mask: np.ndarray) -> Tuple[int, int, int, int]:
    """Tight ``(x, y, w, h)`` box of the non-zero pixels of a (H, W) mask; zeros if empty."""
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        return 0, 0, 0, 0
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1))
