"""SegmentMeIfYouCan submission files, written as the benchmark's own tooling writes them.

Shape key: H, W full image size; N sampled pixels.

The benchmark (SegmentMeIfYouCan/road-anomaly-benchmark: ``Evaluation.save_output`` with its
``ChannelLoaderHDF5`` channel) stores one HDF5 file per frame at
``<out>/anomaly_p/<method>/<dataset>/<frame id>.hdf5``: a dataset ``value``, float16, gzip
level 9, the anomaly map at the image's full size, higher = more anomalous. ``<dataset>`` is
the name the benchmark persists the frames under (``AnomalyTrack-all``, ``ObstacleTrack-all``,
``FishyLAFAnomaly-val``, ``LostAndFound-test``) and ``<frame id>`` its frame id: the image
stem (LostAndFound images: without ``_leftImg8bit``).

float16 has 2^10 levels per octave, far fewer than float32 scores need (an LLR map holds
~1e5 distinct values): cast directly, neighbouring scores tie and AP / FPR95 move. We store
instead a monotone, rank-keeping transform of the score, fitted on the run's own maps (no
label is used): the score's empirical quantiles are mapped linearly onto the ordered float16
codes of [0, 1], so each of the 15,361 levels holds about the same number of pixels and the
stored maps stay in [0, 1], the range the benchmark's fixed-bin metric variant assumes.
"""
import os
import os.path as osp
from typing import Dict, Iterable, Optional

import numpy as np

#: our dataset (type, SMIYC track) -> the benchmark's persisted dataset name
BENCHMARK_DATASETS: Dict[tuple, str] = {
    ('SMIYCDataset', 'anomaly'): 'AnomalyTrack-all',
    ('SMIYCDataset', 'obstacle'): 'ObstacleTrack-all',
    ('FishyscapesLaFDataset', None): 'FishyLAFAnomaly-val',
    # every LostAndFound test subset persists as LostAndFound-test (the tool's
    # name_for_persistence)
    ('LostAndFoundDataset', None): 'LostAndFound-test',
}
#: image-name endings the benchmark drops from frame ids (LostAndFound / Fishyscapes LaF)
FRAME_ID_SUFFIXES = ('_leftImg8bit', )
VALUE_KEY = 'value'  # the HDF5 dataset name the benchmark reads
GZIP_LEVEL = 9
#: bit pattern of float16 1.0: positive float16 bit patterns 0..ONE_CODE are the ordered
#: values 0, the subnormals, ..., 1.0 (IEEE 754: ordering of non-negative floats = of bits)
ONE_CODE = 0x3C00


def benchmark_dataset_name(dataset_cfg: dict) -> str:
    """The benchmark's name for a test dataset config; a ValueError lists the known ones."""
    key = (dataset_cfg.get('type'), dataset_cfg.get('track', 'anomaly')
           if dataset_cfg.get('type') == 'SMIYCDataset' else None)
    if key not in BENCHMARK_DATASETS:
        known = ', '.join(f'{t}{f" track={k}" if k else ""} -> {n}'
                          for (t, k), n in BENCHMARK_DATASETS.items())
        raise ValueError(f'{key[0]} is not a SegmentMeIfYouCan dataset ({known}); pass '
                         '--smiyc-dataset NAME to name it yourself')
    return BENCHMARK_DATASETS[key]


def frame_id(img_path: str) -> str:
    """The benchmark's frame id of an image: its stem, minus a LostAndFound suffix."""
    stem = osp.splitext(osp.basename(img_path))[0]
    for suffix in FRAME_ID_SUFFIXES:
        if stem.endswith(suffix):
            stem = stem[:-len(suffix)]
    return stem


def submission_path(out_dir: str, method: str, dataset: str, img_path: str) -> str:
    """``<out_dir>/anomaly_p/<method>/<dataset>/<frame id>.hdf5``."""
    if not method or os.sep in method:
        raise ValueError(f'method name must be a non-empty folder name, got {method!r}')
    return osp.join(out_dir, 'anomaly_p', method, dataset, frame_id(img_path) + '.hdf5')


# ------------------------------------------------------------ float16 rank transform
def fit_rank_knots(maps: Iterable[np.ndarray], *, samples_per_map: int = 1 << 16,
                   seed: int = 0) -> np.ndarray:
    """Knots of the rank transform: quantiles of the scores of ``maps`` (all frames, read once).

    Every map contributes ``samples_per_map`` randomly chosen pixels (all if it has fewer)
    plus its minimum and maximum, so the extremes are exact.

    Returns:
        (K,) float64, strictly increasing (K >= 2).
    """
    rng = np.random.default_rng(seed)
    parts = []
    for score in maps:
        flat = np.asarray(score).reshape(-1)
        flat = flat[np.isfinite(flat)]
        if not flat.size:
            continue
        take = flat if flat.size <= samples_per_map else \
            flat[rng.integers(0, flat.size, samples_per_map)]
        parts += [take.astype(np.float64), np.array([flat.min(), flat.max()], np.float64)]
    if not parts:
        raise ValueError('no finite anomaly score to fit the float16 transform on')
    samples = np.concatenate(parts)
    knots = np.unique(np.quantile(samples, np.linspace(0.0, 1.0, ONE_CODE + 1)))
    if knots.size == 1:  # a constant map: any increasing pair keeps the (single) rank
        knots = np.array([knots[0], knots[0] + 1.0])
    return knots


def to_float16_ranks(score: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Monotone non-decreasing map of ``score`` onto float16 values in [0, 1].

    The knots' quantile levels are spread evenly over the float16 codes 0..``ONE_CODE``;
    scores between knots are interpolated linearly, below / above them clipped.
    """
    codes = np.linspace(0.0, ONE_CODE, knots.size)
    level = np.interp(np.asarray(score, np.float64), knots, codes)
    return np.round(level).astype(np.uint16).view(np.float16)


# ------------------------------------------------------------------- writing
def write_frame(path: str, value: np.ndarray, *, score_mode: Optional[str] = None) -> str:
    """One frame's file: HDF5 dataset ``value``, float16, gzip level 9 (h5py imported here);
    ``score_mode`` (the score's name) is stored as the dataset's attribute ``score``, which
    the benchmark does not read."""
    import h5py

    value = np.asarray(value)
    if value.dtype != np.float16 or value.ndim != 2:
        raise ValueError(f'{path}: the benchmark reads (H, W) float16 maps, got {value.dtype} '
                         f'{value.shape}')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with h5py.File(path, 'w') as f:
        data = f.create_dataset(VALUE_KEY, data=value, compression='gzip',
                                compression_opts=GZIP_LEVEL)
        if score_mode:
            data.attrs['score'] = str(score_mode)
    return path


def read_frame(path: str) -> np.ndarray:
    """A written frame, as the benchmark reads it: the ``value`` dataset."""
    import h5py

    with h5py.File(path, 'r') as f:
        if VALUE_KEY not in f:
            raise KeyError(f'{path} holds no {VALUE_KEY!r} dataset (keys: {list(f.keys())})')
        return f[VALUE_KEY][:]


def write_submission(map_dir: str, out_dir: str, *, method: str,
                     dataset: str) -> Dict[str, object]:
    """Convert the ``.npz`` maps of ``map_dir`` (``tools/test.py --out``) into a submission.

    Two passes over the maps (they are never all in memory): fit the float16 transform,
    then write each frame. Frame ids must be unique (two images with one id would overwrite
    each other). Where the maps carry labels (a validation split), AP and FPR95 of the
    stored float16 values are computed next to those of the float32 maps: the transform
    keeps the ranking, so they agree up to the ties of neighbouring scores.

    Returns:
        dict(paths: written files, score: the score the maps hold (their ``score_mode``),
        metrics: {'float32': {...}, 'float16': {...}} or None).
    """
    from .functional import pixel_metrics
    from .io import iter_anomaly_maps

    seen: Dict[str, str] = {}
    modes = set()
    for item in iter_anomaly_maps(map_dir):
        modes.add(item['score_mode'])
        path = submission_path(out_dir, method, dataset, item['img_path'])
        if path in seen:
            raise ValueError(f'{seen[path]} and {item["img_path"]} have the same frame id '
                             f'{frame_id(item["img_path"])!r}: their submission files would '
                             'collide')
        seen[path] = item['img_path']
    score = ', '.join(sorted(str(m) for m in modes)) if modes != {None} else None
    knots = fit_rank_knots(item['score'] for item in iter_anomaly_maps(map_dir))
    paths, scores32, scores16, labels = [], [], [], []
    for item in iter_anomaly_maps(map_dir):
        value = to_float16_ranks(item['score'], knots)
        paths.append(write_frame(submission_path(out_dir, method, dataset, item['img_path']),
                                 value, score_mode=score))
        if item['label'] is not None:
            scores32.append(item['score'].reshape(-1))
            scores16.append(value.reshape(-1))
            labels.append(item['label'].reshape(-1))
    metrics = None
    if labels and len(labels) == len(paths):
        import torch

        label = torch.from_numpy(np.concatenate(labels))
        metrics = {name: pixel_metrics(torch.from_numpy(np.concatenate(s)).float(), label,
                                       metrics=('AP', 'FPR95'))
                   for name, s in (('float32', scores32), ('float16', scores16))}
    return dict(paths=paths, score=score, metrics=metrics)
