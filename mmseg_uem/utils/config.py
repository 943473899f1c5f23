"""Generic walks over an mmengine config: the leaf datasets of a dataloader, the evaluators
of ``test_evaluator``, and the one list of annotation loaders (removed from a pipeline to
predict without labels: ``tools/test.py`` on a split without labels, the inferencer, the
ONNX export's stored pipeline)."""
from typing import List, Sequence

from mmengine.config import ConfigDict

#: the transforms that load labels (mmseg's and ours), removed to predict without labels
ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadDepthAnnotation', 'LoadOoDAnnotations')


def strip_annotation_loading(pipeline: Sequence[dict]) -> List[dict]:
    """``pipeline`` (a list of transform configs) without the ``ANNOTATION_LOADERS``, also
    inside ``TestTimeAug`` branches (whose empty branches are dropped); the input is not
    modified. What mmseg's inferencer does for ``LoadAnnotations``, for our loader too."""
    out = []
    for transform in pipeline:
        if transform.get('type') in ANNOTATION_LOADERS:
            continue
        if transform.get('type') == 'TestTimeAug':
            branches = [strip_annotation_loading(b) for b in transform['transforms']]
            transform = dict(transform, transforms=[b for b in branches if b])
        out.append(dict(transform))
    return out


def leaf_datasets(dataset_cfg) -> list:
    """Dataset configs inside wrappers (ConcatDataset ``datasets``, RepeatDataset ``dataset``)."""
    if 'datasets' in dataset_cfg:
        return [d for sub in dataset_cfg['datasets'] for d in leaf_datasets(sub)]
    if 'dataset' in dataset_cfg:
        return leaf_datasets(dataset_cfg['dataset'])
    return [dataset_cfg]


def evaluator_list(evaluator) -> list:
    """A config's ``test_evaluator`` (one dict, a list or None) as a list of ConfigDicts."""
    if evaluator is None:
        return []
    if isinstance(evaluator, (list, tuple)):
        return [ConfigDict(e) for e in evaluator]
    return [ConfigDict(evaluator)]
