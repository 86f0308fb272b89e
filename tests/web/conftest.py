"""Fixtures for the web tests: one folder of tiny runs trained on digits (and a CSV table) per
session, an app over it, and a client that talks to it like the page does."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
import torch

from vaekit import cli
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.training.loop import fit

with warnings.catch_warnings():  # Starlette's TestClient prefers httpx2 now; httpx still works
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient  # noqa: F401  (imported once here, quietly)


def _train(out: Path, epochs: int, data: dict | None = None, **model) -> Path:
    cfg = RunConfig(
        data=DataConfig(**{"source": "digits", **(data or {})}),
        model=ModelConfig(**{"arch": "mlp", "latent_dim": 4, "hidden": (32,), **model}),
        train=TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, progress=False, threads=1, tensorboard=False),
        seed=0,
    )
    return fit(cfg, out, figures=False).path


def _wine_csv(folder: Path) -> Path:
    from sklearn.datasets import load_wine

    wine = load_wine()
    path = folder / "wine.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([c.replace("/", "_") for c in wine.feature_names] + ["label"])
        w.writerows([*map(float, row), int(t)] for row, t in zip(wine.data, wine.target))
    return path


@pytest.fixture(scope="session")
def runs_root(tmp_path_factory) -> Path:
    """A folder of four tiny runs: ``mlp`` (2-D latent, with a fitted detector), ``conv``,
    ``cvae`` (conditional) and ``wine`` (a CSV table, Gaussian likelihood). About 10 s on 1 thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("served") / "runs"
    data = tmp_path_factory.mktemp("tables")
    _train(root / "mlp", 8, latent_dim=2)
    _train(root / "conv", 3, arch="conv", channels=(8, 16))
    _train(root / "cvae", 5, conditional=True)
    _train(root / "wine", 10, data={"source": f"csv:{_wine_csv(data)}"}, likelihood="gaussian-learned")
    assert cli.main(["detect", "fit", str(root / "mlp"), "--contamination", "0.05"]) == 0
    torch.set_num_threads(before)
    return root


@pytest.fixture(scope="session")
def client(runs_root):
    """A TestClient over the runs folder, addressed as 127.0.0.1 (the loopback Host check)."""
    from fastapi.testclient import TestClient

    from vaekit.web.app import create_app

    with TestClient(create_app(runs_root), base_url="http://127.0.0.1") as c:
        yield c


def _png_of(x: torch.Tensor) -> bytes:
    from vaekit.web.encode import png_bytes

    return png_bytes(x.numpy())


def _pixels(data_url: str):
    import base64
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as im:
        return np.asarray(im).copy()


@pytest.fixture(scope="session")
def png_of():
    """png_of(x): (C, H, W) in [0, 1] -> PNG bytes, as a user's file would be."""
    return _png_of


@pytest.fixture(scope="session")
def pixels():
    """pixels(data_url): an image data URL -> (H, W) or (H, W, 3) uint8 array."""
    return _pixels
