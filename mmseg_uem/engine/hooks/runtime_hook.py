"""``RuntimeHook``: the model's test throughput (images/s, ms/image), forward only.

``tools/test.py`` always adds it. It times ``model.test_step`` (data preprocessor, forward and
post-processing of a batch; data loading and the metric excluded), with a device
synchronisation around each call on CUDA, skips the first ``warmup`` batches (kernel
selection, caches), and at the end of the test logs one line naming the device, the input
size and the number of images timed. The numbers are those of the running configuration
(batch size, sliding window, TTA); compare runs on the same device only.
"""
import platform
import time
from collections import Counter
from typing import Any, Dict, List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmseg.registry import HOOKS


def _shapes(inputs: Any) -> List[tuple]:
    """(C, H, W) of every image tensor in a batch's ``inputs`` (a tensor, or nested lists)."""
    if isinstance(inputs, torch.Tensor):
        return [tuple(inputs.shape[-3:])] * (inputs.shape[0] if inputs.dim() == 4 else 1)
    if isinstance(inputs, (list, tuple)):
        return [s for item in inputs for s in _shapes(item)]
    return []


def device_name(device: torch.device) -> str:
    """A person-readable name of the device the model runs on."""
    if device.type == 'cuda':
        return f'{torch.cuda.get_device_name(device)} (cuda:{device.index or 0})'
    cpu = platform.processor() or platform.machine()
    return f'CPU {cpu}, {torch.get_num_threads()} threads'


@HOOKS.register_module()
class RuntimeHook(Hook):
    """Log images/s and ms/image of ``model.test_step`` after ``warmup`` batches.

    Args:
        warmup: batches not timed at the start (fewer when the test has fewer batches: at
            least one batch is always timed, and the log says how many were skipped).
    """

    priority = 'LOW'

    def __init__(self, warmup: int = 5) -> None:
        if warmup < 0:
            raise ValueError(f'warmup must be >= 0, got {warmup}')
        self.warmup = warmup
        self.summary: Optional[Dict[str, Any]] = None

    def before_test(self, runner) -> None:
        model = runner.model
        self._model = model
        self._times: List[float] = []
        self._images: List[int] = []
        self._shapes: Counter = Counter()
        num_batches = len(runner.test_dataloader)
        self._skip = min(self.warmup, max(num_batches - 1, 0))
        original = model.test_step
        try:
            self._device = next(model.parameters()).device
        except StopIteration:
            self._device = torch.device('cpu')
        cuda = self._device.type == 'cuda'

        def timed_test_step(data):
            if cuda:
                torch.cuda.synchronize(self._device)
            start = time.perf_counter()
            outputs = original(data)
            if cuda:
                torch.cuda.synchronize(self._device)
            self._times.append(time.perf_counter() - start)
            self._images.append(len(outputs))
            self._shapes.update(_shapes(data.get('inputs') if isinstance(data, dict) else None))
            return outputs

        model.test_step = timed_test_step

    def after_test(self, runner) -> None:
        if 'test_step' in vars(self._model):
            del self._model.test_step  # the class's method again

    def after_test_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        times, images = self._times[self._skip:], self._images[self._skip:]
        if not times or not sum(images):
            return
        seconds, count = sum(times), sum(images)
        shape, _ = self._shapes.most_common(1)[0] if self._shapes else ('?', 0)
        size = 'x'.join(str(v) for v in shape[-2:]) if shape != '?' else '?'
        others = len(self._shapes) - 1
        self.summary = dict(images_per_s=count / seconds, ms_per_image=1000 * seconds / count,
                            images=count, warmup_batches=self._skip,
                            device=device_name(self._device), input_size=size)
        print_log(f'runtime: {count / seconds:.2f} img/s, {1000 * seconds / count:.1f} '
                  f'ms/image (model.test_step only, data loading excluded; {count} images in '
                  f'{len(times)} batches after {self._skip} warm-up batches; device '
                  f'{self.summary["device"]}; input {size}'
                  + (f' and {others} other sizes' if others > 0 else '') + ')',
                  logger='current')
