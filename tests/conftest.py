"""Set-up shared by every test: the plugin registered into mmseg's registries and mmseg as
the default scope (as a config's ``default_scope='mmseg'``: the data preprocessor and
mmpretrain's scoped types are found through it).

Shared factories are in :mod:`mmseg_uem.testing` (``models.segmentor_cfg``,
``batches.synthetic_batch`` / ``label_samples``, the miniature data sets); fixtures here.
"""
import pytest
from mmengine.registry import init_default_scope

import mmseg_uem  # noqa: F401  (registers the modules)


@pytest.fixture(autouse=True, scope='session')
def mmseg_default_scope():
    init_default_scope('mmseg')
