"""Fixtures shared by the application tests: the command line and tiny trained runs.

Test modules cannot import conftest reliably, so the helpers are fixtures: ``tiny_run`` trains a
small MLP VAE on sklearn's digits (or another source) and returns its run directory.
"""

from pathlib import Path

import pytest

from vaekit import cli
from vaekit.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from vaekit.training.loop import fit


@pytest.fixture
def main():
    """The vaekit command line: main(argv) -> exit code."""
    return cli.main


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """tiny_run(name, epochs=..., data={...}, **model) -> the run directory of a freshly trained tiny model.

    ``data`` overrides DataConfig (default source: digits); ``model`` overrides an MLP with
    latent_dim 4 and one hidden layer of 64. Batch 32, lr 3e-3, seed 0, one thread, no logging.
    """

    def make(name: str, *, epochs: int, data: dict | None = None, **model) -> Path:
        cfg = RunConfig(
            data=DataConfig(**{"source": "digits", **(data or {})}),
            model=ModelConfig(**{"arch": "mlp", "latent_dim": 4, "hidden": (64,), **model}),
            train=TrainConfig(epochs=epochs, batch_size=32, lr=3e-3, progress=False, threads=1, tensorboard=False),
            seed=0,
        )
        return fit(cfg, tmp_path_factory.mktemp(name) / "run").path

    return make


@pytest.fixture(scope="module")
def zeros_run(tiny_run):
    """A model of the digit 0 only: every other digit is an anomaly (one per test module)."""
    return tiny_run("zeros", epochs=30, data={"classes": (0,)})


@pytest.fixture(scope="module")
def digits_run(tiny_run):
    """A model of all the digits (one per test module)."""
    return tiny_run("digits", epochs=10)
