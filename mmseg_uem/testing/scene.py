"""Procedural street scenes with Cityscapes labelIds, learnable by a tiny model.

Layout follows a one-point perspective: sky and a skyline of buildings / trees above a
random horizon, a road trapezoid narrowing towards a vanishing point, sidewalks beside it,
terrain or building bases beyond, then poles with signs or lights, persons on the
sidewalks, cars on the road and sometimes the ego vehicle's bonnet (void). Every class has
its own muted colour distribution and texture (windows, leaf noise, tiles, lane marks), so
colour and texture both carry the class. All inlier colours have low saturation: the
foreign objects of :mod:`.objects` are saturated and never look like the scene.
"""
from typing import Dict, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np

# Cityscapes labelIds (cityscapesscripts.helpers.labels); names kept literal for readability.
LABEL_IDS: Dict[str, int] = {
    'ego vehicle': 1, 'road': 7, 'sidewalk': 8, 'building': 11, 'fence': 13, 'pole': 17,
    'traffic light': 19, 'traffic sign': 20, 'vegetation': 21, 'terrain': 22, 'sky': 23,
    'person': 24, 'car': 26,
}

_CAR_COLOURS = ((55, 62, 90), (140, 140, 145), (205, 205, 200), (32, 32, 36), (100, 78, 72))
_CLOTHES = ((60, 60, 72), (92, 75, 62), (72, 82, 92), (40, 40, 40))
_BUILDING_COLOURS = ((122, 112, 102), (140, 132, 122), (102, 98, 98), (160, 150, 136))


class StreetScene(NamedTuple):
    """An RGB image (H, W, 3) uint8 and its Cityscapes labelIds (H, W) uint8.

    ``road_mask`` marks the visible road pixels; ``horizon`` is the horizon row, used to
    size objects by perspective.
    """
    image: np.ndarray
    label_ids: np.ndarray
    road_mask: np.ndarray
    horizon: int


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth noise (H, W) float32 in about [-1, 1] with ``cells`` blobs along the width."""
    gh = max(2, int(round(cells * height / width)))
    grid = rng.uniform(-1, 1, (gh, max(2, cells))).astype(np.float32)
    return cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)


class _Canvas:
    """Image and label being painted; the last paint wins (painter's algorithm)."""

    def __init__(self, rng: np.random.Generator, height: int, width: int) -> None:
        self.rng, self.h, self.w = rng, height, width
        self.image = np.zeros((height, width, 3), np.float32)
        self.label = np.zeros((height, width), np.uint8)
        self.ys, self.xs = np.mgrid[0:height, 0:width].astype(np.float32)

    def paint(self, mask: np.ndarray, name: str, colour: Sequence[float],
              texture: Optional[np.ndarray] = None) -> None:
        colour = np.asarray(colour, np.float32)
        fill = colour if texture is None else colour * (1 + texture[mask][:, None])
        self.image[mask] = fill
        self.label[mask] = LABEL_IDS[name]

    def rect(self, y0: float, y1: float, x0: float, x1: float) -> np.ndarray:
        return (self.ys >= y0) & (self.ys < y1) & (self.xs >= x0) & (self.xs < x1)

    def ellipse(self, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
        return ((self.ys - cy) / max(ry, 0.5)) ** 2 + ((self.xs - cx) / max(rx, 0.5)) ** 2 <= 1


def _perspective(y: float, horizon: int, height: int) -> float:
    """0 at the horizon, 1 at the bottom row: the size factor of an object based at row y."""
    return float(np.clip((y - horizon) / max(height - horizon, 1), 0, 1))


def _background(c: _Canvas, horizon: int, cx: float) -> Tuple[np.ndarray, np.ndarray]:
    """Sky, skyline, ground, road and sidewalks; returns (road, sidewalk) masks."""
    rng, h, w = c.rng, c.h, c.w
    sky_t = c.ys / max(horizon, 1)
    sky = np.stack([150 + 50 * sky_t, 172 + 38 * sky_t, 200 + 20 * sky_t], -1)
    c.image[:] = sky + 12 * np.clip(smooth_noise(rng, h, w, 6), 0, 1)[..., None]
    c.label[:] = LABEL_IDS['sky']

    t = np.clip((c.ys - horizon) / max(h - horizon, 1), 0, 1)
    below = c.ys >= horizon
    half_road = w * (0.03 + 0.5 * t)
    dx = np.abs(c.xs - cx)
    road = below & (dx < half_road)
    sidewalk = below & ~road & (dx < half_road * 1.3 + 2 + 0.04 * w * t)
    roadside = below & ~road & ~sidewalk

    leaves = smooth_noise(rng, h, w, 24) * 0.25 + smooth_noise(rng, h, w, 64) * 0.15
    x0 = 0
    while x0 < w:
        x1 = min(w, x0 + int(rng.integers(max(w // 10, 2), max(w // 4, 3))))
        cols = (c.xs >= x0) & (c.xs < x1)
        kind = rng.choice(['building', 'vegetation', 'open'], p=[0.55, 0.3, 0.15])
        if kind == 'building':
            top = horizon - rng.uniform(0.15, 0.42) * h
            mask = cols & (c.ys >= top) & ~road & ~sidewalk
            period = max(4.0, w / rng.uniform(24, 40))
            windows = (((c.xs - x0) % period < 0.5 * period)
                       & ((c.ys - top) % period < 0.55 * period))
            tex = np.where(windows, -0.45, 0.0) + 0.05 * smooth_noise(rng, h, w, 32)
            c.paint(mask, 'building', _BUILDING_COLOURS[rng.integers(4)], tex)
        else:
            if kind == 'vegetation':
                bumps = 0.06 * h * smooth_noise(rng, 1, w, 12)  # (1, W) irregular crowns
                top = horizon - rng.uniform(0.08, 0.3) * h + bumps
                crown = cols & (c.ys >= top) & (c.ys < horizon)
                c.paint(crown, 'vegetation', (66, 96, 48), leaves)
            ground = cols & roadside
            c.paint(ground, 'terrain', (118, 122, 84), 0.6 * leaves)
        x0 = x1

    asphalt = 0.06 * smooth_noise(rng, h, w, 40)
    c.paint(road, 'road', (88, 86, 92), asphalt)
    tiles = np.where((c.xs % 6 < 1) | (c.ys % 5 < 1), -0.25, 0.0)
    c.paint(sidewalk, 'sidewalk', (152, 142, 136), tiles)
    # Dashed centre line, labelled road as in Cityscapes.
    dashes = (np.clip(c.ys - horizon, 0, None) ** 0.7) % 6 < 3  # longer dashes nearer
    lane = road & (dx < 0.004 * w + 0.012 * w * t) & dashes
    c.paint(lane, 'road', (205, 205, 198))
    return road, sidewalk


def _street_furniture(c: _Canvas, horizon: int, cx: float) -> None:
    """Poles with a traffic sign or a traffic light, and sometimes a fence."""
    rng, h, w = c.rng, c.h, c.w
    if rng.uniform() < 0.4:
        top = horizon + rng.uniform(0.05, 0.15) * h
        band = c.rect(top, top + 0.06 * h, 0, w) & (c.label == LABEL_IDS['terrain'])
        bars = np.where(c.xs % 4 < 1, -0.35, 0.0)
        c.paint(band, 'fence', (128, 118, 100), bars)
    for _ in range(int(rng.integers(1, 4))):
        base = rng.uniform(horizon + 0.15 * (h - horizon), h - 1)
        t = _perspective(base, horizon, h)
        side = rng.choice([-1, 1])
        x = cx + side * w * (0.03 + 0.5 * t) * 1.32
        pole_h, pole_w = h * (0.15 + 0.5 * t), max(1.0, w * 0.004 * (1 + 3 * t))
        c.paint(c.rect(base - pole_h, base, x - pole_w / 2, x + pole_w / 2), 'pole',
                (112, 112, 112))
        size = pole_w * 4
        if rng.uniform() < 0.5:
            plate = c.rect(base - pole_h, base - pole_h + size, x - size / 2, x + size / 2)
            rim = plate & ~c.rect(base - pole_h + 1, base - pole_h + size - 1,
                                  x - size / 2 + 1, x + size / 2 - 1)
            c.paint(plate, 'traffic sign', (212, 212, 204))
            c.paint(rim, 'traffic sign', (62, 70, 104))
        else:
            box = c.rect(base - pole_h, base - pole_h + 2 * size, x - size / 3, x + size / 3)
            c.paint(box, 'traffic light', (38, 38, 38))
            lamp = c.ellipse(base - pole_h + size * rng.uniform(0.4, 1.6), x, size / 5, size / 5)
            c.paint(lamp & box, 'traffic light', (150, 138, 110))


def _person(c: _Canvas, base: float, x: float, height: float) -> None:
    width = 0.3 * height
    clothes = np.asarray(_CLOTHES[c.rng.integers(len(_CLOTHES))], np.float32)
    for leg in (-0.25, 0.25):
        c.paint(c.rect(base - 0.45 * height, base, x + leg * width - 0.12 * width,
                       x + leg * width + 0.12 * width), 'person', clothes * 0.8)
    c.paint(c.rect(base - 0.82 * height, base - 0.42 * height, x - width / 2, x + width / 2),
            'person', clothes)
    c.paint(c.ellipse(base - 0.9 * height, x, 0.09 * height, 0.18 * width), 'person',
            (168, 140, 122))


def _car(c: _Canvas, base: float, x: float, width: float) -> None:
    height = 0.5 * width
    body = np.asarray(_CAR_COLOURS[c.rng.integers(len(_CAR_COLOURS))], np.float32)
    c.paint(c.rect(base - 0.9 * height, base - 0.5 * height, x - 0.34 * width, x + 0.34 * width),
            'car', body * 0.95)
    c.paint(c.rect(base - 0.82 * height, base - 0.55 * height, x - 0.28 * width, x + 0.28 * width),
            'car', (52, 60, 70))  # windows
    c.paint(c.rect(base - 0.55 * height, base - 0.12 * height, x - width / 2, x + width / 2),
            'car', body)
    for wheel in (-0.32, 0.32):
        c.paint(c.ellipse(base - 0.12 * height, x + wheel * width, 0.12 * height, 0.09 * width),
                'car', (22, 22, 22))


def render_street_scene(rng: np.random.Generator, height: int, width: int, *,
                        ego_vehicle: Optional[bool] = None) -> StreetScene:
    """Render one street scene of ``height x width`` pixels.

    ``ego_vehicle``: draw the bonnet strip (labelId 1, void) at the bottom; random if None.
    """
    if height < 16 or width < 16:
        raise ValueError(f'scene size must be at least 16x16, got {height}x{width}')
    c = _Canvas(rng, height, width)
    horizon = int(height * rng.uniform(0.36, 0.5))
    cx = width * rng.uniform(0.4, 0.6)
    road, _ = _background(c, horizon, cx)
    _street_furniture(c, horizon, cx)

    # People on the sidewalks and cars on the road, drawn far to near.
    things = []
    for _ in range(int(rng.integers(0, 4))):
        base = rng.uniform(horizon + 0.2 * (height - horizon), height - 1)
        t = _perspective(base, horizon, height)
        x = cx + rng.choice([-1, 1]) * width * (0.03 + 0.5 * t) * 1.15
        things.append((base, 'person', x, height * (0.08 + 0.4 * t)))
    for _ in range(int(rng.integers(1, 4))):
        base = rng.uniform(horizon + 0.1 * (height - horizon), height - 1)
        t = _perspective(base, horizon, height)
        x = cx + rng.uniform(-0.8, 0.8) * width * (0.03 + 0.5 * t)
        things.append((base, 'car', x, width * (0.06 + 0.3 * t)))
    for base, kind, x, size in sorted(things, key=lambda thing: thing[0]):
        (_person if kind == 'person' else _car)(c, base, x, size)

    if ego_vehicle is None:
        ego_vehicle = bool(rng.uniform() < 0.3)
    if ego_vehicle:
        bonnet = c.ys >= height * (0.93 - 0.03 * np.cos((c.xs / width - 0.5) * np.pi))
        c.paint(bonnet, 'ego vehicle', (36, 36, 40))

    gain = rng.uniform(0.85, 1.15) * rng.uniform(0.96, 1.04, 3)  # exposure and white balance
    image = c.image * gain + rng.normal(0, 4, c.image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    return StreetScene(image, c.label, road & (c.label == LABEL_IDS['road']), horizon)
