"""Importing ``mmseg_uem`` (what ``custom_imports`` does) registers every module and pulls in
no optional or heavy package beyond those mmseg's own registration imports."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: packages that only some functions need: imported inside those functions (mmseg itself
#: already imports some of them, e.g. tqdm and cityscapesscripts: those are not counted)
LAZY = ('pycocotools', 'tqdm', 'h5py', 'onnx', 'onnxruntime', 'sklearn', 'timm',
        'cityscapesscripts', 'hypothesis', 'scipy', 'matplotlib', 'mmpretrain')
NAMES = dict(models=['UEMEncoderDecoder', 'UEMTTAModel', 'GMMHead', 'UEMHead',
                     'LinearDecoderHead', 'DINOv2', 'FrozenBackbone'],
             metrics=['OoDMetric'], hooks=['AnomalyVisualizationHook'],
             datasets=['RoadAnomalyDataset', 'FishyscapesLaFDataset', 'SMIYCDataset'],
             transforms=['AnomalyMix', 'LoadOoDAnnotations'])
CODE = f'''
import json, sys
import mmseg.datasets, mmseg.engine, mmseg.evaluation, mmseg.models  # mmseg's registration
before = set(sys.modules)
import mmseg_uem
from mmseg.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS
registries = dict(models=MODELS, metrics=METRICS, hooks=HOOKS, datasets=DATASETS,
                  transforms=TRANSFORMS)
missing = [n for k, v in {NAMES!r}.items() for n in v if registries[k].get(n) is None]
added = sorted(m for m in set(sys.modules) - before if m.split('.')[0] in {LAZY!r})
print(json.dumps(dict(missing=missing, added=added)))
'''


def test_import_registers_without_optional_packages():
    out = subprocess.run([sys.executable, '-c', CODE], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result['missing'] == [], result
    assert result['added'] == [], result
