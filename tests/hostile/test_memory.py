"""Inputs of a few KB or MB that used to cost gigabytes: refused with their own message, in a process
whose address space is limited (bounded.py), so an attempt to allocate them fails the test."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_kit import TINY

HERE = Path(__file__).parent
MEMBER = gzip.compress(bytes(16 << 20), compresslevel=9)  # 16 MiB of zeros in ~16 KB


def _idx(dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, 0x08, len(dims)]) + struct.pack(f">{len(dims)}i", *dims)


def _gz_bomb(path: Path, head: bytes, gib: int = 2) -> None:
    """A gzip file whose first member is ``head`` and whose body inflates to ``gib`` GiB of zeros
    (gzip members concatenated: a few MB on disk)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(gzip.compress(head))
        for _ in range(gib * 64):
            f.write(MEMBER)


def _mnist_bomb(folder: Path, dims: tuple[int, ...]) -> str:
    small = {"train-labels-idx1-ubyte": _idx((2,)) + b"\0\1", "t10k-images-idx3-ubyte": _idx((1, 28, 28)) + bytes(784),
             "t10k-labels-idx1-ubyte": _idx((1,)) + b"\0"}  # fmt: skip
    for name, data in small.items():
        (folder / f"{name}.gz").parent.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.gz").write_bytes(gzip.compress(data))
    _gz_bomb(folder / "train-images-idx3-ubyte.gz", _idx(dims))
    return str(folder)


def _cases(tmp: Path, run: Path) -> list[tuple[str, list[str], str]]:
    """(name, argv, fragment of the expected one-line message)."""
    out = str(tmp / "new-run")
    laughs = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    laughs += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(10)]
    (tmp / "laughs.yaml").write_text("\n".join(laughs) + "\n")
    huge = tmp / "huge-run"
    shutil.copytree(run, huge)
    raw = json.loads((huge / "config.json").read_text())
    raw["config"]["model"]["hidden"] = [10**9]
    (huge / "config.json").write_text(json.dumps(raw))
    (tmp / "big-images").mkdir()
    from PIL import Image

    for i in range(10):
        Image.new("L", (8, 8)).save(tmp / "big-images" / f"{i}.png")
    amat = tmp / "amat"
    for split in ("train", "valid", "test"):
        _gz_bomb(amat / f"binarized_mnist_{split}.amat.gz", b"0 1\n", gib=1) if split == "train" else (
            amat / f"binarized_mnist_{split}.amat"
        ).write_text(" ".join("0" * 784) + "\n")
    return [
        ("idx-gz-bomb-small-header", ["train", "--data", "mnist", "--data-dir", _mnist_bomb(tmp / "m1", (2, 28, 28)), "--out", out],
         "longer than its header"),
        ("idx-gz-bomb-full-header", ["train", "--data", "mnist", "--data-dir", _mnist_bomb(tmp / "m2", (60000, 28, 28)), "--out", out],
         "longer than its header"),
        ("amat-gz-bomb", ["train", "--data", "binarized-mnist", "--data-dir", str(amat), "--out", out], "more than 128 mb"),
        ("yaml-billion-laughs", ["train", "--config", str(tmp / "laughs.yaml"), "--out", out], "aliases"),
        ("hidden-a-billion", ["train", *TINY, "--set", "model.hidden=[1000000000]", "--out", out], "parameters"),
        ("latent-a-billion", ["train", *TINY, "--latent-dim", "1000000000", "--out", out], "parameters"),
        ("conv-channels-a-billion", ["train", *TINY, "--model", "conv", "--set", "model.channels=[1000000000]", "--out", out],
         "parameters"),
        ("info-on-a-config-with-a-billion-wide-layer", ["info", str(huge)], "parameters"),
        ("sample-a-billion", ["sample", str(run), "-n", "1000000000", "--out", str(tmp / "s.npy")], "ask for fewer"),
        ("images-resized-huge", ["train", *TINY, "--data", f"folder:{tmp / 'big-images'}", "--set", "data.image_size=[8000, 8000]",
                                 "--out", out], "data.image_size"),
        ("estimator-a-billion-wide", ["estimator", "hidden"], "parameters"),
    ]  # fmt: skip


@pytest.mark.slow
def test_memory_bombs_are_refused_within_bounded_memory(tmp_path: Path, trained_run: Path) -> None:
    cases = _cases(tmp_path, trained_run)
    spec = tmp_path / "cases.json"
    spec.write_text(json.dumps([(name, argv) for name, argv, _ in cases]))
    private = tmp_path / "tmp"  # the estimator's temporary folders, apart from other processes on this machine
    private.mkdir()
    env = {**os.environ, "TMPDIR": str(private)}
    proc = subprocess.run(
        [sys.executable, str(HERE / "bounded.py"), str(spec)], capture_output=True, text=True, timeout=300, env=env
    )
    rows = {r["name"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert rows.get("control", {}).get("stderr") == "MemoryError", (rows.get("control"), proc.stderr[-2000:])
    for name, _, expect in cases:
        row = rows.get(name)
        assert row is not None, f"{name}: the bounded process died before it ({proc.returncode}): {proc.stderr[-2000:]}"
        lines = row["stderr"].splitlines()
        assert row["code"] == 1 and len(lines) == 1 and "Traceback" not in row["stderr"], (name, row)
        assert expect in lines[0].lower(), (name, lines[0])
        assert row["seconds"] < 20, (name, row["seconds"])  # refused up front, not after inflating gigabytes
