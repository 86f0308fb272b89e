"""``vaekit train --devices N``: N local training processes, one per rank, started and watched here.

Apart from ``ddp.py`` (the collectives every rank uses, under this launcher or torchrun) so that
``ddp`` never imports the training loop: the loop imports ``ddp``; this module imports both.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.distributed as dist

from vaekit.config import RunConfig
from vaekit.errors import TrainingError
from vaekit.training.ddp import TIMEOUT, shutdown

TAIL_LINES = 8  # of a failing rank's traceback, in launch's error


def _worker(rank: int, world_size: int, port: int, cfg_dict: dict, out: str, resume: bool) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world_size),
        LOCAL_RANK=str(rank),
        TORCHELASTIC_USE_AGENT_STORE="True",  # the launcher hosts the store: every rank is a client
    )
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # gloo's own listening sockets: loopback only
    from vaekit.training.loop import fit  # in the spawned process: the launcher itself needs no model code

    try:
        fit(RunConfig.from_dict(cfg_dict), out, resume=resume, lock=False)  # the launcher holds the run's lock
    except BaseException:
        shutdown(wait=False)
        raise
    shutdown()


def launch(cfg: RunConfig, out: str | Path, devices: int, resume: bool = False) -> None:
    """Run ``fit`` in ``devices`` local processes; the first failure stops them all."""
    import torch.multiprocessing as mp

    store = local_store()
    try:
        mp.start_processes(
            _worker, args=(devices, store.port, cfg.to_dict(), str(out), resume), nprocs=devices, join=True, start_method="spawn"
        )
    except mp.ProcessRaisedException as e:
        raise TrainingError(f"process {e.error_index} of {devices} failed, so all were stopped: {_failure(str(e))}") from None
    except mp.ProcessExitedException as e:
        how = f"was killed by {e.signal_name}" if e.signal_name else f"exited with code {e.exit_code}"
        raise TrainingError(
            f"process {e.error_index} of {devices} {how}, so all were stopped; its own output above says why"
        ) from None
    finally:
        del store


def local_store() -> dist.TCPStore:
    """The rendezvous store of a local launch, listening on 127.0.0.1 only. TCPStore binds every
    interface when it opens the port itself, so it is handed a loopback socket instead; port 0: the
    OS picks a free port, held until every rank has finished."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        port = sock.getsockname()[1]
    except OSError:
        sock.close()
        raise
    return dist.TCPStore(
        "127.0.0.1", port, is_master=True, timeout=TIMEOUT, wait_for_workers=False, master_listen_fd=sock.detach()
    )


def _failure(report: str) -> str:
    """A rank's error as launch shows it: a vaekit error's message alone (it says what to do);
    anything else with the tail of the rank's traceback, which is all there is to go on."""
    lines = [ln for ln in report.strip().splitlines() if ln.strip()]
    last = lines[-1]
    if last.startswith("vaekit.errors."):
        return last.split(": ", 1)[-1]
    tail = [ln for ln in lines if not ln.startswith("-- Process")][-TAIL_LINES:]
    return last + "\n  traceback tail:\n    " + "\n    ".join(ln.strip() for ln in tail)
