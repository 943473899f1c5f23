"""Timing and memory of callables, for the benchmarks in ``tools/benchmarks/``.

Times are medians of ``runs`` after ``warmup`` calls, with ``torch.cuda.synchronize``
around each call on CUDA.
"""
import statistics
import threading
import time
from contextlib import nullcontext
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

PRECISIONS = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}


def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def autocast(device: torch.device, precision: str):
    dtype = PRECISIONS[precision]
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


class PeakMemory:
    """Peak memory above the level at entry: the CUDA allocator's, or the resident set size
    sampled every 2 ms by a thread (Linux /proc)."""

    def __init__(self, cuda: bool = False) -> None:
        self.cuda = cuda

    def __enter__(self) -> 'PeakMemory':
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
            return self
        self.base = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            self.peak = torch.cuda.max_memory_allocated()
            return
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _poll(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> int:
        with open('/proc/self/statm') as f:
            return int(f.read().split()[1]) * 4096

    @property
    def extra(self) -> int:
        return self.peak - self.base


def measure(fns: Dict[str, Callable[[], None]], *, device: torch.device, runs: int,
            warmup: int) -> Dict[str, Dict[str, float]]:
    """Time several callables, interleaved run by run so that they share the machine's load.

    Returns per name: median and fastest seconds per call (the fastest is the robust figure
    on a shared machine: other load only adds time) and ``extra_mib``, the memory a call
    needs above what is allocated before it (weights, EM buffers and optimizer state of all
    models stay resident): CUDA ``max_memory_allocated`` minus ``memory_allocated`` before
    the call; CPU peak RSS above the RSS before the call, sampled every 2 ms (the allocator
    keeps freed pages: a lower bound).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    peaks = dict.fromkeys(fns, 0)
    for _ in range(runs):
        for name, fn in fns.items():
            synchronize(device)
            if device.type == 'cuda':
                torch.cuda.reset_peak_memory_stats(device)
                before = torch.cuda.memory_allocated(device)
            tracker = PeakMemory() if device.type != 'cuda' else nullcontext()
            with tracker:
                start = time.perf_counter()
                fn()
                synchronize(device)
                times[name].append(time.perf_counter() - start)
            peak = (torch.cuda.max_memory_allocated(device) - before if device.type == 'cuda'
                    else tracker.peak - tracker.base)
            peaks[name] = max(peaks[name], peak)
    return {name: dict(seconds=statistics.median(t), best_seconds=min(t),
                       extra_mib=peaks[name] / 2**20) for name, t in times.items()}


def resident_mib(model: nn.Module, optimizer: Optional[torch.optim.Optimizer] = None) -> float:
    """Parameters, buffers (GMM memories included) and optimizer state, in MiB."""
    tensors = list(model.parameters()) + list(model.buffers())
    if optimizer is not None:
        tensors += [v for state in optimizer.state.values() for v in state.values()
                    if isinstance(v, Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def table_row(section: str, name: str, precision: str, images: int, res: dict, *,
         resident: float, **extra) -> dict:
    """A table row; ``peak_mib`` = resident state of this model + the call's extra memory."""
    return dict(section=section, name=name, precision=precision,
                images_per_s=images / res['seconds'],
                best_images_per_s=images / res['best_seconds'],
                peak_mib=resident + res['extra_mib'], extra_mib=res['extra_mib'], **extra)
