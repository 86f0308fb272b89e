"""Fixtures for the data tests: an isolated environment (the IDX writers are in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

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
