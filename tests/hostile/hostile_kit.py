"""What every hostile case shares: a workspace with a copy of a tiny trained run, tampering helpers,
and the check that a failing command failed well (non-zero exit, one line on stderr, no traceback,
no file that existed before changed, nothing half-written left behind)."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import warnings
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vaekit.cli import main

LOCK = ".vaekit.lock"  # the only file a refused writer may leave in a run directory it checked
TINY = ["--data", "digits", "--limit", "200", "--latent-dim", "2", "--epochs", "1", "--batch-size", "50", "--no-progress",
        "--threads", "1", "--set", "model.hidden=[16]", "--set", "train.tensorboard=false"]  # fmt: skip


@dataclass
class Ctx:
    """A case's workspace: ``tmp`` (empty) and, on first use, ``run``: a copy of the trained run."""

    tmp: Path
    source_run: Path
    monkeypatch: pytest.MonkeyPatch
    _run: Path | None = None

    @property
    def run(self) -> Path:
        if self._run is None:
            self._run = self.tmp / "run"
            shutil.copytree(self.source_run, self._run)
        return self._run

    def file(self, name: str, data: bytes | str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def tensors(self, name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
        with safe_open(str(self.run / name), "pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})

    def edit_tensors(self, name: str, edit: Callable[[dict[str, torch.Tensor], dict[str, str]], None]) -> None:
        """Rewrite a safetensors file of the run after ``edit`` changed its tensors/metadata in place:
        a valid file with hostile contents."""
        tensors, meta = self.tensors(name)
        edit(tensors, meta)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(self.run / name), metadata=meta)

    def edit_state(self, edit: Callable[[dict], None]) -> None:
        """Edit the JSON progress in train_state.safetensors' metadata."""

        def change(t: dict, meta: dict) -> None:
            state = json.loads(meta["state"])
            edit(state)
            meta["state"] = json.dumps(state)

        self.edit_tensors("train_state.safetensors", change)

    def edit_config(self, edit: Callable[[dict], None]) -> None:
        path = self.run / "config.json"
        raw = json.loads(path.read_text())
        edit(raw)
        path.write_text(json.dumps(raw))


@dataclass(frozen=True)
class Case:
    name: str
    setup: Callable[[Ctx], list[str]]  # prepares the workspace, returns argv for vaekit.cli.main
    expect: str = ""  # a fragment the one-line message must contain (lower case)
    exit_code: int = 1
    new_files: tuple[str, ...] = field(default=())  # names a failed command may leave (besides LOCK)


def register(table: list[Case], expect: str = "", exit_code: int = 1) -> Callable:
    """Decorator: add the function (its name, dashes for underscores) to ``table`` as a case."""

    def deco(fn: Callable[[Ctx], list[str]]) -> Callable[[Ctx], list[str]]:
        table.append(Case(fn.__name__.strip("_").replace("_", "-"), fn, expect.lower(), exit_code))
        return fn

    return deco


def snapshot(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root`` (symlinks by their target text)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            out[str(p)] = "link:" + str(p.readlink())
        elif p.is_file():
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str
    warnings: tuple[str, ...]


def run_main(argv: list[str]) -> Outcome:
    """``vaekit.cli.main(argv)`` in-process: exit code (argparse's SystemExit included), stderr, and
    any Python warnings it raised (each would be one more line on a terminal)."""
    err, out = io.StringIO(), io.StringIO()
    with warnings.catch_warnings(record=True) as caught, redirect_stderr(err), redirect_stdout(out):
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    return Outcome(code, err.getvalue(), tuple(str(w.message) for w in caught))


def check_failed_well(case: Case, ctx: Ctx, argv: list[str], before: dict[str, str]) -> Outcome:
    """Run ``argv`` and assert what every hostile case must hold."""
    result = run_main(argv)
    lines = result.stderr.splitlines()
    assert result.code == case.exit_code, (result.code, result.stderr)
    assert len(lines) == 1 and not result.warnings, (lines, result.warnings)
    assert "Traceback" not in result.stderr
    assert case.expect in lines[0].lower(), lines[0]
    after = snapshot(ctx.tmp)
    changed = [p for p, h in before.items() if after.get(p) != h and Path(p).name != LOCK]
    assert not changed, f"files changed or removed: {changed}"
    new = [p for p in after if p not in before and Path(p).name not in (LOCK, *case.new_files)]
    assert not new, f"files left behind: {new}"
    return result
