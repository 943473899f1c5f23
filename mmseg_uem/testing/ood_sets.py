"""Write miniature OoD test sets, each in its benchmark's raw on-disk layout.

Scenes are the street scenes of :mod:`.scene` with ``'anomaly'``-family objects (unseen
hues and patterns, see :mod:`.objects`). Label values are each benchmark's raw ones:

- RoadAnomaly: ``{0, 2}``, no void (``frame_list.json``, ``frames/<name>.jpg``,
  ``frames/<name>.labels/labels_semantic.png``);
- Fishyscapes LaF: ``{0, 1, 255}`` (void = ego vehicle, on even frames), frame 1 has no
  anomaly (the real
  set has one such frame); labels ``fishyscapes_lostandfound/<NNNN>_<scene>_<seq>_<frame>
  _labels.png``, images in LostAndFound's ``lost_and_found/leftImg8bit/{train,test}/<scene>/``;
- SMIYC anomaly track: ``{0, 1, 255}``, ``images/validationNNNN.jpg`` labelled,
  ``images/<name>NNNN.jpg`` test frames without labels, ``_color.png`` pictures beside;
- SMIYC obstacle track: ``{0 road, 1 obstacle, 255 off-road}``, ``images/<fid>.webp``.
"""
import json
import os
import os.path as osp
from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np
from PIL import Image

from .objects import object_polygons, paint_object
from .scene import LABEL_IDS, render_street_scene

LAF_SCENES = {'test': ('04_Maurener_Weg_8', '05_Schafgasse_1'),
              'train': ('01_Hanns_Klemm_Str_45',)}
SMIYC_TEST_NAMES = ('zebra', 'airplane', 'tractor')
#: real RoadObstacle21 frame ids (the OoDIS file list): test scene, night, snowstorm, ...
OBSTACLE_TEST_NAMES = ('gravel_boot_2', 'driveway_carton_bowl_3', 'snowstorm2_00_01_38.181',
                       'curvy-street_pig_frisbee_1', 'snowstorm1_00_00_51.868',
                       'one-way-street_bagB_2')

Pairs = List[Tuple[str, str]]


class AnomalyScene(NamedTuple):
    image: np.ndarray       # (H, W, 3) uint8 RGB
    label_ids: np.ndarray   # (H, W) uint8 Cityscapes labelIds of the background scene
    anomaly: np.ndarray     # (H, W) bool, pixels of the foreign objects
    road: np.ndarray        # (H, W) bool, visible road pixels not covered by an object


def anomaly_scene(rng: np.random.Generator, size: Tuple[int, int], *, num_objects: int,
                  obstacle: bool = False, ego_vehicle: Optional[bool] = None) -> AnomalyScene:
    """A street scene with ``num_objects`` foreign objects standing on the road.

    Obstacles (``obstacle=True``) are small, as in RoadObstacle21; anomalies are larger.
    ``ego_vehicle``: draw the (void) bonnet; random if None.
    """
    height, width = size
    scene = render_street_scene(rng, height, width, ego_vehicle=ego_vehicle)
    image = scene.image.copy()
    anomaly = np.zeros((height, width), bool)
    for _ in range(num_objects):
        # Objects stand on visible road in the nearer 70% of the ground.
        start = int(scene.horizon + 0.3 * (height - scene.horizon))
        rows = start + np.flatnonzero(scene.road_mask[start:].any(axis=1))
        base = int(rng.choice(rows))
        x = float(rng.choice(np.flatnonzero(scene.road_mask[base])))
        t = (base - scene.horizon) / max(height - scene.horizon, 1)
        oh = height * ((0.04 + 0.12 * t) if obstacle else (0.1 + 0.3 * t))
        ow = oh * rng.uniform(0.7, 1.6)
        kind = rng.choice(['blob', 'animal'])
        polys = object_polygons(rng, str(kind), cx=x, cy=base - oh / 2, h=oh, w=ow)
        anomaly |= paint_object(rng, image, polys, family='anomaly')
    return AnomalyScene(image, scene.label_ids, anomaly, scene.road_mask & ~anomaly)


def _void(scene: AnomalyScene) -> np.ndarray:
    return scene.label_ids == LABEL_IDS['ego vehicle']


def _save(array: np.ndarray, path: str, **kwargs) -> str:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def make_road_anomaly(root: str, *, num_frames: int, size: Tuple[int, int], seed: int) -> Pairs:
    """RoadAnomaly_jpg: labels 0 background, 2 anomaly."""
    pairs, names = [], []
    for i in range(num_frames):
        rng = np.random.default_rng([seed, 3, i])
        scene = anomaly_scene(rng, size, num_objects=int(rng.integers(1, 3)))
        name = f'anomaly{i:02d}_street'
        names.append(f'{name}.jpg')
        img = _save(scene.image, osp.join(root, 'frames', f'{name}.jpg'), quality=95)
        label = np.where(scene.anomaly, 2, 0).astype(np.uint8)
        pairs.append((img, _save(label, osp.join(root, 'frames', f'{name}.labels',
                                                 'labels_semantic.png'))))
    with open(osp.join(root, 'frame_list.json'), 'w', encoding='utf-8') as f:
        json.dump(names, f)
    return pairs


def make_fishyscapes_laf(root: str, *, num_frames: int, size: Tuple[int, int],
                         seed: int) -> Pairs:
    """Fishyscapes LaF labels + LostAndFound images (plus one unlabelled LaF frame)."""
    scenes = [(split, s) for split in ('test', 'train') for s in LAF_SCENES[split]]
    pairs = []
    for i in range(num_frames + 1):
        rng = np.random.default_rng([seed, 4, i])
        split, laf_scene = scenes[i % len(scenes)]
        stem = f'{laf_scene}_{i // len(scenes):06d}_{30 + 10 * i:06d}'
        num_objects = 0 if i == 1 else int(rng.integers(1, 3))  # frame 1: all inlier
        scene = anomaly_scene(rng, size, num_objects=num_objects, ego_vehicle=i % 2 == 0)
        img = _save(scene.image, osp.join(root, 'lost_and_found', 'leftImg8bit', split,
                                          laf_scene, f'{stem}_leftImg8bit.png'))
        if i == num_frames:
            break  # a LostAndFound frame that Fishyscapes did not label
        label = np.where(scene.anomaly, 1, np.where(_void(scene), 255, 0)).astype(np.uint8)
        pairs.append((img, _save(label, osp.join(root, 'fishyscapes_lostandfound',
                                                 f'{i:04d}_{stem}_labels.png'))))
    return pairs


def make_smiyc_anomaly(root: str, *, num_val: int, num_test: int, size: Tuple[int, int],
                       seed: int) -> Pairs:
    """dataset_AnomalyTrack: labelled validation frames and unlabelled test frames.

    Frame sizes alternate between ``size`` and a 16:9 frame of the same width ("varies").
    """
    wide = (int(round(size[1] * 9 / 16)), size[1])
    pairs = []
    for i in range(num_val + num_test):
        rng = np.random.default_rng([seed, 5, i])
        scene = anomaly_scene(rng, size if i % 2 == 0 else wide,
                              num_objects=int(rng.integers(1, 3)), ego_vehicle=i % 2 == 0)
        if i < num_val:
            fid = f'validation{i:04d}'
        else:
            j = i - num_val
            fid = f'{SMIYC_TEST_NAMES[j % len(SMIYC_TEST_NAMES)]}{j:04d}'
        img = _save(scene.image, osp.join(root, 'images', f'{fid}.jpg'), quality=95)
        if i >= num_val:
            continue  # test labels are hidden
        label = np.where(scene.anomaly, 1, np.where(_void(scene), 255, 0)).astype(np.uint8)
        stem = osp.join(root, 'labels_masks', f'{fid}_labels_semantic')
        pairs.append((img, _save(label, f'{stem}.png')))
        colour = np.array([[0, 0, 0], [255, 102, 0], [255, 255, 255]], np.uint8)
        _save(colour[np.minimum(label, 2)], f'{stem}_color.png')
    return pairs


def make_smiyc_obstacle(root: str, *, num_val: int, num_test: int, size: Tuple[int, int],
                        seed: int) -> Pairs:
    """dataset_ObstacleTrack: small obstacles on the road; the ROI is the road."""
    wide = (int(round(size[1] * 9 / 16)), size[1])
    pairs = []
    for i in range(num_val + num_test):
        rng = np.random.default_rng([seed, 6, i])
        scene = anomaly_scene(rng, wide, num_objects=int(rng.integers(1, 4)), obstacle=True)
        if i < num_val:
            fid = f'validation_{i + 1}'
        else:
            j = i - num_val
            fid = OBSTACLE_TEST_NAMES[j % len(OBSTACLE_TEST_NAMES)] + (
                f'{j // len(OBSTACLE_TEST_NAMES)}' if j >= len(OBSTACLE_TEST_NAMES) else '')
        img = _save(scene.image, osp.join(root, 'images', f'{fid}.webp'), quality=90)
        if i >= num_val:
            continue
        label = np.full(scene.anomaly.shape, 255, np.uint8)
        label[scene.road] = 0
        label[scene.anomaly] = 1
        pairs.append((img, _save(label, osp.join(root, 'labels_masks',
                                                 f'{fid}_labels_semantic.png'))))
    return pairs


def make_ood_sets(root: str, *, size: Tuple[int, int], seed: int,
                  counts: Dict[str, int]) -> Dict[str, Pairs]:
    """All four sets under ``root`` with the folder names the base configs expect."""
    ra_size = (int(round(size[1] * 9 / 16)), size[1])
    return {
        'road_anomaly': make_road_anomaly(osp.join(root, 'RoadAnomaly_jpg'),
                                          num_frames=counts['road_anomaly'], size=ra_size,
                                          seed=seed),
        'fishyscapes_laf': make_fishyscapes_laf(osp.join(root, 'fishyscapes'),
                                                num_frames=counts['fishyscapes_laf'],
                                                size=size, seed=seed),
        'smiyc_anomaly': make_smiyc_anomaly(osp.join(root, 'dataset_AnomalyTrack'),
                                            num_val=counts['smiyc_anomaly'],
                                            num_test=counts['smiyc_test'], size=size, seed=seed),
        'smiyc_obstacle': make_smiyc_obstacle(osp.join(root, 'dataset_ObstacleTrack'),
                                              num_val=counts['smiyc_obstacle'],
                                              num_test=counts['smiyc_test'], size=size,
                                              seed=seed),
    }
