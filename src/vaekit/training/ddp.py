"""Several processes through PyTorch's own DistributedDataParallel.

Two ways in, one code path: ``vaekit train --devices N`` spawns N local processes here, and
``torchrun --nproc_per_node N -m vaekit train ...`` (one machine or several, with torchrun's
rendezvous flags) sets RANK/WORLD_SIZE/LOCAL_RANK itself. Backend: gloo on CPU, nccl on GPU.
Every collective has a timeout, so a rank that dies ends the others with an error, not a hang.
"""

from __future__ import annotations

import datetime
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from vaekit.errors import TrainingError

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
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
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
    return part, part.shape[0] * env.world_size / max(t.shape[0], 1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, cfg_dict: dict, out: str, resume: bool) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank)
    )
    from vaekit.config import RunConfig
    from vaekit.training.loop import fit

    try:
        fit(RunConfig.from_dict(cfg_dict), out, resume=resume)
    finally:
        shutdown()


def launch(cfg, out: str | Path, devices: int, resume: bool = False) -> None:
    """Run ``fit`` in ``devices`` local processes; the first failure stops them all."""
    import torch.multiprocessing as mp

    port = _free_port()
    try:
        mp.start_processes(
            _worker, args=(devices, port, cfg.to_dict(), str(out), resume), nprocs=devices, join=True, start_method="spawn"
        )
    except mp.ProcessRaisedException as e:
        last = [ln for ln in str(e).strip().splitlines() if ln.strip()][-1]
        raise TrainingError(f"process {e.error_index} of {devices} failed, so all were stopped: {last}") from None
    except mp.ProcessExitedException as e:
        raise TrainingError(f"process {e.error_index} of {devices} exited with code {e.exit_code}, so all were stopped") from None
