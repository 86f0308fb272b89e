"""Fixtures for the data tests: an isolated environment and small IDX writers."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

MNIST_DIR = Path("/work/shared/data/mnist")
BINARIZED_DIR = Path("/work/shared/data/binarized_mnist")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test sees the user's VAEKIT_DATA, mirror or download cache."""
    monkeypatch.delenv("VAEKIT_DATA", raising=False)
    monkeypatch.delenv("VAEKIT_MIRROR", raising=False)
    cache = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def write_idx(path: Path, arr: np.ndarray, *, gz: bool = True) -> Path:
    """Write `arr` (uint8) as an IDX file, gzipped if `gz`."""
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = bytes([0, 0, 0x08, arr.ndim]) + np.asarray(arr.shape, ">i4").tobytes()
    data = header + arr.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_fake_mnist(folder: Path, n_train: int = 30, n_test: int = 10, *, gz: bool = True) -> Path:
    """Four tiny MNIST-format files: image i is filled with the value i, label i % 10."""
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28))
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, gz=gz)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz=gz)
    return folder


@pytest.fixture
def idx_writer() -> Callable[..., Path]:
    """write_idx, as a fixture: test modules cannot import conftest reliably."""
    return write_idx


@pytest.fixture
def mnist_writer() -> Callable[..., Path]:
    return write_fake_mnist


@pytest.fixture
def fake_mnist_dir(tmp_path: Path) -> Path:
    return write_fake_mnist(tmp_path / "fake-mnist")
