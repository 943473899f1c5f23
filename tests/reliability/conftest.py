"""Fixtures of the reliability suite (its shared helpers are in ``rel_utils.py``)."""
import pytest
import torch


@pytest.fixture
def fast_runner(monkeypatch):
    """For Runners built in the test process: CPU only, one torch thread (as the
    subprocesses have, OMP_NUM_THREADS=1: on a loaded 2-core machine two spinning threads
    make a tiny step 100x slower) and the config logged as its raw text instead of
    yapf-formatted (~1 s per Runner; only the log / dumped config text differ)."""
    from mmengine.config import Config

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setattr(Config, 'pretty_text', property(lambda cfg: cfg.text))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)  # CPU semantics tested
    yield
    torch.set_num_threads(threads)
