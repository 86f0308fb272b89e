"""Fixtures for the whole suite."""

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Every test on one torch thread (tiny models train faster so on 2 shared cores); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_ratings(path, users: int = 60, items: int = 40, seed: int = 0, layout: str = "u.data"):
    """A small ratings file with structure: users of group g (user % 2) rate the items of group g
    (item % 2 == g) 4-5 and a few others 1-3; each user has 8-14 ratings. ``layout``: u.data (tab),
    ratings.csv (header userId,movieId,rating,timestamp) or ratings.dat (::). Returns the path."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, users + 1):
        mine = [i for i in range(1, items + 1) if i % 2 == u % 2]
        liked = rng.choice(mine, size=int(rng.integers(6, 11)), replace=False)
        others = rng.choice([i for i in range(1, items + 1) if i % 2 != u % 2], size=int(rng.integers(2, 5)), replace=False)
        for i in liked:
            lines.append((u, int(i), int(rng.integers(4, 6)), 880000000 + len(lines)))
        for i in others:
            lines.append((u, int(i), int(rng.integers(1, 4)), 880000000 + len(lines)))
    sep = {"u.data": "\t", "ratings.csv": ",", "ratings.dat": "::"}[layout]
    text = "".join(sep.join(map(str, row)) + "\n" for row in lines)
    if layout == "ratings.csv":
        text = "userId,movieId,rating,timestamp\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def ratings_file(tmp_path):
    """ratings_file(name="u.data", **options) -> a synthetic ratings file (see write_ratings) in tmp_path."""

    def make(name: str = "u.data", **options):
        return write_ratings(
            tmp_path / name, layout=options.pop("layout", name if name in ("ratings.csv", "ratings.dat") else "u.data"), **options
        )

    return make


@pytest.fixture(scope="session")
def ratings_writer():
    """write_ratings itself, for module- and session-scoped fixtures (conftest is not importable)."""
    return write_ratings


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
