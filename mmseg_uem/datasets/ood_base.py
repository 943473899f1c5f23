"""Base of the OoD benchmark datasets and the loader that normalises their labels.

Every benchmark ships its own raw label values (RoadAnomaly {0, 2}; Fishyscapes and SMIYC
{0, 1, 255}). A dataset declares them (``RAW_LABEL_VALUES``) and how they map to the
common {0 inlier, 1 anomaly, 255 void} (``LABEL_MAP``); :class:`LoadOoDAnnotations`
reads the PNG with its raw values (never as a colour image), checks both and the size,
and applies the map, so the pipeline yields exactly {0, 1, 255}.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets import BaseSegDataset
from mmseg.registry import TRANSFORMS

from ..utils.labels import IGNORE_INDEX

Pair = Tuple[str, Optional[str]]


def list_files(folder: str, suffix: str) -> List[str]:
    """Sorted names in ``folder`` ending with ``suffix``, hidden files skipped (macOS leaves
    ``._<name>`` resource files beside copied ones; mmengine's listing skips them too); a
    clear error if there are none."""
    if not osp.isdir(folder):
        raise FileNotFoundError(f'folder {folder} does not exist')
    names = sorted(n for n in os.listdir(folder) if n.endswith(suffix) and not n.startswith('.'))
    if not names:
        raise FileNotFoundError(f'no *{suffix} files in folder {folder}')
    return names


class OoDBaseDataset(BaseSegDataset):
    """A pixel-level OoD test set: image / label pairs, labels normalised to {0, 1, 255}.

    Subclasses implement :meth:`find_pairs` for their raw layout and set
    ``RAW_LABEL_VALUES`` / ``LABEL_MAP``. Loading checks that every image and every label
    exists, naming the missing file. A pair whose label is None (a hidden test set) can be
    run for predictions only: :class:`LoadOoDAnnotations` refuses to score it.
    """
    METAINFO = dict(classes=('inlier', 'anomaly'), palette=[[0, 0, 0], [255, 255, 255]])
    RAW_LABEL_VALUES: Tuple[int, ...] = (0, 1, 255)
    LABEL_MAP: Optional[Dict[int, int]] = None

    def find_pairs(self) -> List[Pair]:
        """(image path, label path or None) of every frame, in a fixed order."""
        raise NotImplementedError

    def load_data_list(self) -> List[dict]:
        data_list = []
        for img_path, seg_map_path in self.find_pairs():
            if not osp.isfile(img_path):
                raise FileNotFoundError(f'image {img_path} is missing')
            if seg_map_path is not None and not osp.isfile(seg_map_path):
                raise FileNotFoundError(f'label {seg_map_path} of image {img_path} is missing')
            data_list.append(dict(
                img_path=img_path, seg_map_path=seg_map_path,
                label_map=self.LABEL_MAP, reduce_zero_label=False, seg_fields=[],
                ood_raw_values=tuple(self.RAW_LABEL_VALUES)))
        return data_list


@TRANSFORMS.register_module()
class LoadOoDAnnotations(BaseTransform):
    """Load an OoD label PNG with its raw values, validate it and map it to {0, 1, 255}.

    Required Keys:

    - seg_map_path (str | None): None for dataset frames whose labels are hidden (an error:
      ``tools/test.py`` removes this transform to predict such a split). Absent for inputs
      that do not come from a dataset (mmseg's ``inference_model``, the inferencers): then
      nothing is loaded, as there is no label to load.
    - ori_shape (tuple): (H, W) of the loaded image (put it after LoadImageFromFile).
    - ood_raw_values, label_map (optional): the dataset's declaration, used when the
      matching argument is None.

    Added Keys:

    - gt_seg_map (np.uint8): (H, W) in {0, 1, ignore_index}.
    - seg_fields (list)

    Args:
        raw_values (Sequence[int], optional): Values the raw label may hold; anything else
            is an error naming the file. None: take the dataset's ``ood_raw_values``.
        label_map (dict, optional): Raw value -> normalised value (e.g. ``{2: 1}``).
            None: take the dataset's ``label_map``.
        ignore_index (int): The void value of the output. Defaults to 255.
        imdecode_backend (str): Backend of :func:`mmcv.imfrombytes`. Defaults to 'pillow'.
        backend_args (dict, optional): File backend arguments (mmengine.fileio).
    """

    def __init__(self,
                 raw_values: Optional[Sequence[int]] = None,
                 label_map: Optional[Dict[int, int]] = None,
                 *,
                 ignore_index: int = IGNORE_INDEX,
                 imdecode_backend: str = 'pillow',
                 backend_args: Optional[dict] = None) -> None:
        self.raw_values = None if raw_values is None else tuple(int(v) for v in raw_values)
        self.label_map = None if label_map is None else dict(label_map)
        self.ignore_index = ignore_index
        self.imdecode_backend = imdecode_backend
        self.backend_args = backend_args.copy() if backend_args else None

    def _lookup_table(self, raw_values: Tuple[int, ...], label_map: Optional[dict],
                      path: str) -> np.ndarray:
        lut = np.arange(256, dtype=np.uint8)
        for old, new in (label_map or {}).items():
            lut[int(old)] = int(new)
        mapped = set(lut[list(raw_values)].tolist())
        if not mapped <= {0, 1, self.ignore_index}:
            raise ValueError(f'label map {label_map} sends raw values {raw_values} of {path} '
                             f'to {sorted(mapped)}, not into {{0, 1, {self.ignore_index}}}')
        return lut

    def transform(self, results: dict) -> dict:
        if 'seg_map_path' not in results:
            return results  # an inference input (image or array), not a dataset frame
        path = results['seg_map_path']
        img_path = results.get('img_path')
        if path is None:
            raise ValueError(
                f'{img_path} has no public label (a hidden test split, e.g. SMIYC test: '
                'score it on the benchmark server); only labelled splits can be evaluated '
                '(tools/test.py --out / --show-dir predicts such a split)')
        raw = mmcv.imfrombytes(fileio.get(path, backend_args=self.backend_args),
                               flag='unchanged', backend=self.imdecode_backend)
        if raw.ndim == 3:
            # An RGB-saved grey label is fine; a colour picture is not a label.
            if not (raw == raw[..., :1]).all():
                raise ValueError(f'label {path} is a colour image, not a label map')
            raw = raw[..., 0]
        if 'ori_shape' not in results:
            raise KeyError('LoadOoDAnnotations needs ori_shape: put it after LoadImageFromFile')
        if raw.shape != tuple(results['ori_shape'][:2]):
            raise ValueError(f'label {path} is {raw.shape[0]}x{raw.shape[1]} but image '
                             f'{img_path} is {results["ori_shape"][0]}x{results["ori_shape"][1]}')
        raw_values = self.raw_values or results.get('ood_raw_values')
        if raw_values is None:
            raise ValueError(f'no raw label values declared for {path}: pass raw_values')
        unexpected = np.setdiff1d(np.unique(raw), raw_values)
        if unexpected.size:
            raise ValueError(f'label {path} holds values {unexpected.tolist()} outside the '
                             f'declared raw set {list(raw_values)}')
        label_map = self.label_map if self.label_map is not None else results.get('label_map')
        lut = self._lookup_table(tuple(raw_values), label_map, path)
        results['gt_seg_map'] = lut[raw.astype(np.uint8)]
        results.setdefault('seg_fields', []).append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(raw_values={self.raw_values}, '
                f'label_map={self.label_map}, ignore_index={self.ignore_index}, '
                f"imdecode_backend='{self.imdecode_backend}')")
