"""The built-in sources on the real files: digits, mnist, fashion-mnist, binarized-mnist."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.data.standard import read_amat
from vaekit.errors import DataFormatError

MNIST_DIR = Path("/work/shared/data/mnist")
BINARIZED_DIR = Path("/work/shared/data/binarized_mnist")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")

# shared/data/SOURCES.md
MNIST_TRAIN_HIST = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_HIST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_digits_shapes_and_range() -> None:
    data = load_data(DataConfig(source="digits"))
    assert data.kind == "image" and data.shape == (1, 8, 8)
    assert len(data.train) + len(data.validation) + len(data.test) == 1797
    assert len(data.test) == round(1797 * 0.2)
    for split in (data.train, data.validation, data.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert 0 <= split.x.min() and split.x.max() <= 1
    assert data.train.x.max() == 1.0  # 16 / 16
    assert data.num_classes == 10 and data.class_names == tuple("0123456789")


def test_digits_split_is_fixed_by_seed() -> None:
    a = load_data(DataConfig(source="digits", seed=3))
    b = load_data(DataConfig(source="digits", seed=3, limit=10_000))  # different key, same split
    c = load_data(DataConfig(source="digits", seed=4))
    assert a is not b and a.checksum == b.checksum
    assert torch.equal(a.test.x, b.test.x)
    assert a.checksum != c.checksum


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="shared MNIST files not present")
def test_mnist_from_data_dir() -> None:
    data = load_data(DataConfig(source="mnist", data_dir=str(MNIST_DIR), download=False))
    assert data.shape == (1, 28, 28)
    assert (len(data.train), len(data.validation), len(data.test)) == (54_000, 6_000, 10_000)
    train_labels = torch.cat([data.train.y, data.validation.y])
    assert torch.bincount(train_labels, minlength=10).tolist() == MNIST_TRAIN_HIST
    assert torch.bincount(data.test.y, minlength=10).tolist() == MNIST_TEST_HIST
    assert data.train.x.dtype == torch.float32 and data.train.x.max() == 1.0 and data.train.x.min() == 0.0
    # the parent folder works too: mnist is looked for under <data_dir>/mnist
    again = load_data(DataConfig(source="mnist", data_dir=str(MNIST_DIR.parent), download=False))
    assert again.checksum == data.checksum


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_mnist_found_in_debian_dir() -> None:
    data = load_data(DataConfig(source="fashion-mnist", download=False))
    assert (len(data.train) + len(data.validation), len(data.test)) == (60_000, 10_000)
    assert data.class_names[0] == "T-shirt/top" and data.num_classes == 10
    # Fashion-MNIST is balanced: 6000 per class in train, 1000 in test
    assert torch.bincount(torch.cat([data.train.y, data.validation.y])).tolist() == [6000] * 10
    assert torch.bincount(data.test.y).tolist() == [1000] * 10


@pytest.mark.skipif(not BINARIZED_DIR.is_dir(), reason="shared binarized MNIST files not present")
def test_binarized_mnist_official_splits() -> None:
    data = load_data(DataConfig(source="binarized-mnist", data_dir=str(BINARIZED_DIR.parent), download=False))
    assert (len(data.train), len(data.validation), len(data.test)) == (50_000, 10_000, 10_000)
    assert data.shape == (1, 28, 28) and data.num_classes is None
    assert data.train.y is None and data.test.y is None
    for split in (data.train, data.validation, data.test):
        assert bool(((split.x == 0) | (split.x == 1)).all())  # (torch.unique would sort 39M values)
    assert 0.1 < data.train.x.mean() < 0.2  # about 13% of MNIST pixels are on


def test_amat_fast_and_fallback_paths_agree(tmp_path: Path) -> None:
    rows = np.random.default_rng(0).integers(0, 2, (3, 6))
    exact = tmp_path / "exact.amat"
    exact.write_text("".join(" ".join(map(str, r)) + "\n" for r in rows))
    loose = tmp_path / "loose.amat"
    loose.write_text("".join("  ".join(map(str, r)) + " \r\n" for r in rows))
    np.testing.assert_array_equal(read_amat(exact, width=6), rows)
    np.testing.assert_array_equal(read_amat(loose, width=6), rows)


def test_amat_rejects_non_binary_and_ragged(tmp_path: Path) -> None:
    bad = tmp_path / "bad.amat"
    bad.write_text("0 1 2\n")
    with pytest.raises(DataFormatError, match="0 or 1") as e:
        read_amat(bad, width=3)
    assert str(bad) in str(e.value)
    bad.write_text("0 1 1\n0 1\n")
    with pytest.raises(DataFormatError, match="whole number"):
        read_amat(bad, width=3)
