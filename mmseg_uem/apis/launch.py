"""Building and closing a run: the Runner, and CPU-only distributed launches."""
import datetime

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` (tools/dist_train.sh, dist_test.sh) run on CPUs only.

    mmengine 0.10.7 assumes CUDA there: ``init_dist`` calls ``torch.cuda.set_device``
    ("Found no NVIDIA driver") and the DDP wrapper passes ``device_ids=[LOCAL_RANK]``, which
    DDP refuses for a CPU module. Without CUDA we start the process group ourselves with
    gloo (the Runner then skips ``init_dist``) and wrap the model with ``device_ids=None``.
    Does nothing for other launchers or when CUDA is available.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = dict(env_cfg.get('dist_cfg', None) or {})
    backend = dist_cfg.pop('backend', 'nccl')
    if backend != 'gloo':
        print_log(f'no CUDA device: using the gloo backend instead of {backend!r}',
                  logger='current')
    env_cfg['dist_cfg'] = dict(dist_cfg, backend='gloo')
    if not torch_dist.is_initialized():
        timeout = dist_cfg.pop('timeout', None)
        if timeout is not None:
            dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
        torch_dist.init_process_group(backend='gloo', **dist_cfg)
    wrapper = ConfigDict(cfg.get('model_wrapper_cfg', None) or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False)))
    wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def finish_distributed() -> None:
    """Wait for every rank, then close the process group (mmengine leaves it open).

    Without it a rank that finishes first (rank 1, while rank 0 still writes the last
    checkpoint) tears down gloo's threads at interpreter exit and can abort with
    "terminate called without an active exception" (seen on CPU with torchrun).
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def build_runner(cfg: Config):
    """The Runner (or the config's ``runner_type``), after setting up CPU DDP if needed."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    setup_cpu_distributed(cfg)
    return RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
