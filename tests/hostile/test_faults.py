"""Faults while a run is written: Ctrl-C, a full disk, NaN steps, a NaN validation ELBO, a second
process; and what must hold afterwards (one line, exit 130 for Ctrl-C, the run resumable)."""

from __future__ import annotations

import errno
import itertools
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hostile_kit import LOCK, TINY, Ctx, run_main

import vaekit.checkpoint
import vaekit.training.loop as loop
from vaekit.core.elbo import MeanELBO
from vaekit.training import ddp, launch


def _one_line(result, code: int, expect: str) -> None:
    lines = result.stderr.splitlines()
    assert result.code == code and len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert expect in lines[0], lines[0]


def _interrupt_on_call(n: int):
    """A stand-in for the validation pass that raises KeyboardInterrupt on its n-th call."""
    real, calls = loop._validate, itertools.count(1)

    def validate(*args, **kwargs):
        if next(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return validate


def test_ctrl_c_during_training_exits_130_and_the_run_resumes(ctx: Ctx, monkeypatch) -> None:
    out = ctx.tmp / "r"
    monkeypatch.setattr(loop, "_validate", _interrupt_on_call(2))
    _one_line(run_main(["train", *TINY, "--epochs", "3", "--out", str(out)]), 130, f"--resume {out}")
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 1
    monkeypatch.undo()
    assert run_main(["train", "--resume", str(out)]).code == 0
    assert [r["epoch"] for r in vaekit.checkpoint.read_metrics(out / "metrics.jsonl")] == [1, 2, 3]


def test_ctrl_c_while_loading_data_exits_130_and_leaves_no_folder(ctx: Ctx, monkeypatch) -> None:
    def interrupted(cfg):
        raise KeyboardInterrupt

    monkeypatch.setattr(loop, "open_data", interrupted)
    _one_line(run_main(["train", *TINY, "--out", str(ctx.tmp / "r")]), 130, "interrupted")
    assert not (ctx.tmp / "r").exists()


def test_ctrl_c_in_another_command_exits_130(ctx: Ctx, monkeypatch) -> None:
    def interrupted(self, which="best"):
        raise KeyboardInterrupt

    monkeypatch.setattr(vaekit.checkpoint.RunDir, "load_model", interrupted)
    _one_line(run_main(["sample", str(ctx.run), "--out", str(ctx.tmp / "s.npy")]), 130, "interrupted")


def test_a_run_stopped_before_its_first_checkpoint_resumes_from_scratch(ctx: Ctx, monkeypatch) -> None:
    out = ctx.tmp / "r"
    monkeypatch.setattr(loop, "_validate", _interrupt_on_call(1))
    assert run_main(["train", *TINY, "--out", str(out)]).code == 130
    monkeypatch.undo()
    assert (out / "config.json").is_file() and not (out / "train_state.safetensors").exists()
    _one_line(run_main(["train", *TINY, "--out", str(out)]), 1, "--resume")  # a fresh train points at resume...
    assert run_main(["train", "--resume", str(out)]).code == 0  # ... which starts it over with its config
    assert (out / "train_state.safetensors").is_file()


def _disk_full_after(n: int):
    """os.fsync that succeeds n times, then fails as a full disk does."""
    real, calls = os.fsync, itertools.count()

    def fsync(fd):
        if next(calls) >= n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd)

    return fsync


def test_disk_full_at_the_first_write_leaves_nothing(ctx: Ctx, monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", _disk_full_after(0))
    _one_line(run_main(["train", *TINY, "--out", str(ctx.tmp / "r")]), 1, "No space left on device")
    assert not (ctx.tmp / "r").exists()


def test_disk_full_mid_run_keeps_the_last_checkpoint(ctx: Ctx, monkeypatch) -> None:
    out = ctx.tmp / "r"
    monkeypatch.setattr(os, "fsync", _disk_full_after(4))  # config, best weights, training state, then epoch 2
    _one_line(run_main(["train", *TINY, "--epochs", "3", "--out", str(out)]), 1, "No space left on device")
    monkeypatch.undo()
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
    assert run_main(["train", "--resume", str(out)]).code == 0
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["epoch"] == 3


def test_stale_temporaries_are_removed_by_the_next_writer(ctx: Ctx) -> None:
    stale = ctx.run / ".train_state.safetensors.1a2b3c4d.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert run_main(["train", "--resume", str(ctx.run), "--epochs", "2"]).code == 0
    assert not stale.exists()


def test_nan_steps_are_counted_across_short_epochs(ctx: Ctx, monkeypatch) -> None:
    # 4 steps per epoch, max_bad_steps 3: the last two steps of epoch 1 and the first two of epoch 2
    # fail; a counter that restarts each epoch never reaches 3
    finite = iter([True, True, False, False, False, False] + [True] * 100)
    monkeypatch.setattr(ddp, "all_true", lambda flag, env: next(finite))
    argv = ["train", *TINY, "--epochs", "3", "--set", "train.max_bad_steps=3", "--out", str(ctx.tmp / "r")]
    _one_line(run_main(argv), 1, "3 consecutive steps")


def test_a_run_of_only_nan_steps_fails(ctx: Ctx, monkeypatch) -> None:
    monkeypatch.setattr(ddp, "all_true", lambda flag, env: False)
    _one_line(run_main(["train", *TINY, "--out", str(ctx.tmp / "r")]), 1, "NaN/Inf")


def test_a_nan_validation_elbo_is_never_the_best(ctx: Ctx, monkeypatch) -> None:
    out = ctx.tmp / "r"
    monkeypatch.setattr(loop, "_validate", lambda *a: MeanELBO(elbo=float("nan"), recon_nll=float("nan"), kl=0.0, n=20))
    _one_line(run_main(["train", *TINY, "--out", str(out)]), 1, "validation ELBO is nan")
    assert not (out / "model.safetensors").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_follow_the_umask(ctx: Ctx, umask: int) -> None:
    old = os.umask(umask)
    try:
        assert run_main(["train", *TINY, "--out", str(ctx.tmp / "r")]).code == 0
        assert run_main(["sample", str(ctx.tmp / "r"), "-n", "4", "--out", str(ctx.tmp / "s.npy")]).code == 0
    finally:
        os.umask(old)
    files = [*(ctx.tmp / "r").iterdir(), ctx.tmp / "s.npy"]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files if p.is_file()}
    assert set(modes.values()) == {0o666 & ~umask}, modes


def test_the_holder_of_a_run_is_named_across_processes(ctx: Ctx) -> None:
    code = (
        "import sys, time; from vaekit.runlock import claim_run_dir\n"
        "with claim_run_dir(sys.argv[1], new=False, what='vaekit train'):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code, str(ctx.run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        result = run_main(["train", "--resume", str(ctx.run), "--epochs", "2"])
        _one_line(result, 1, f"in use by pid {holder.pid} on {socket.gethostname()}")
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.05)
    assert run_main(["train", "--resume", str(ctx.run), "--epochs", "2"]).code == 0  # the kernel dropped the lock
    assert (ctx.run / LOCK).is_file()


def test_the_local_rendezvous_listens_on_loopback_only() -> None:
    store = launch.local_store()
    port = f"{store.port:04X}"
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if Path(table).is_file():
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                if state == "0A" and local.endswith(f":{port}"):  # 0A: LISTEN
                    listening.append(local.split(":")[0])
    del store
    assert listening == ["0100007F"]  # 127.0.0.1, and no wildcard socket beside it
