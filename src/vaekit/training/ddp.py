"""Several processes through PyTorch's own DistributedDataParallel.

Two ways in, one code path: ``vaekit train --devices N`` spawns N local processes (``launch.py``), and
``torchrun --nproc_per_node N -m vaekit train ...`` (one machine or several, with torchrun's
rendezvous flags) sets RANK/WORLD_SIZE/LOCAL_RANK itself. Backend: gloo on CPU, nccl on GPU.
Every collective has a timeout, so a rank that dies ends the others with an error, not a hang.
The local launcher hosts the rendezvous store itself on a port the OS assigns (as torchrun's agent
does), so no other program can take the port between choosing it and binding it; ranks that finish
meet at a barrier before leaving the process group, so none tears down gloo under another.
"""

from __future__ import annotations

import atexit
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from vaekit.errors import ConfigError

TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class DistEnv:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def env_from_environment() -> DistEnv:
    """What torchrun (or our own launcher) put in the environment; a single process otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistEnv()
    return DistEnv(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", os.environ["RANK"])))


def init(env: DistEnv, device: torch.device) -> torch.device:
    """Join the process group (once) and return this rank's device."""
    if not env.enabled:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=env.rank, world_size=env.world_size, timeout=TIMEOUT)
        atexit.register(shutdown, wait=False)  # a rank that fails still leaves before interpreter teardown
    return device


def check_device(name: str) -> torch.device:
    """``train.device`` as a torch device this machine has."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"train.device {name!r} is not a device: use cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device {name!r}: this machine has no CUDA GPU (or torch was built without CUDA); use cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"train.device {name!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"train.device {name!r}: MPS is not available on this machine; use cpu")
    return device


def shutdown(wait: bool = True) -> None:
    """Leave the process group. ``wait``: first meet every rank at a barrier, so no rank destroys
    its gloo connections while another still uses them (a rank that failed must not wait)."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    try:
        if wait:
            dist.barrier()
    finally:
        dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    if env.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def all_true(flag: torch.Tensor, env: DistEnv) -> bool:
    """True when ``flag`` holds on every rank (one small all-reduce under DDP)."""
    if not env.enabled:
        return bool(flag)
    t = flag.to(torch.int32).reshape(1)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t)


def broadcast_float(value: float, env: DistEnv) -> float:
    """Rank 0's value on every rank."""
    if not env.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.broadcast(t, src=0)
    return float(t)


def shard(t: torch.Tensor, env: DistEnv) -> tuple[torch.Tensor, float]:
    """This rank's contiguous share of a global batch, and the factor that makes the mean of the
    ranks' scaled per-shard mean losses equal the global batch's mean loss (exact for any size)."""
    if not env.enabled:
        return t, 1.0
    part = torch.tensor_split(t, env.world_size)[env.rank]
    return part, loss_scale(part.shape[0], t.shape[0], env)


def loss_scale(local_rows: int, global_rows: int, env: DistEnv) -> float:
    """The factor on a shard's mean loss that makes the mean over ranks the global batch's mean."""
    return local_rows * env.world_size / max(global_rows, 1)
