"""The generic pipeline in load_data: resolving, splitting, classes, limit, binarize, checksum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import available_sources, load_data
from vaekit.data.registry import clear_cache
from vaekit.errors import ConfigError, DataError, DatasetNotFoundError


@pytest.fixture
def ids_npz(tmp_path: Path) -> Path:
    """A table whose single column is the example's id (0..99); labels id % 5."""
    path = tmp_path / "ids.npz"
    np.savez(path, x=np.arange(100, dtype=np.float32)[:, None], y=np.arange(100) % 5)
    return path


def _ids(split: object) -> list[int]:
    return split.x[:, 0].long().tolist()


def test_available_sources() -> None:
    assert available_sources() == [
        "binarized-mnist", "csv:PATH", "digits", "fashion-mnist", "folder:PATH", "mnist", "npz:PATH", "olivetti", "ratings:PATH",
    ]  # fmt: skip


def test_unknown_source_lists_valid_names(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError) as e:
        load_data(DataConfig(source="cifar"))
    assert "'cifar'" in str(e.value) and "fashion-mnist" in str(e.value) and "csv:PATH" in str(e.value)
    (tmp_path / "t.csv").write_text("a\n1\n")
    with pytest.raises(DatasetNotFoundError, match="did you mean 'csv:"):
        load_data(DataConfig(source=str(tmp_path / "t.csv")))
    with pytest.raises(DatasetNotFoundError, match="give a path"):
        load_data(DataConfig(source="npz:"))


def test_splits_are_disjoint_complete_and_fixed_by_seed(ids_npz: Path) -> None:
    cfg = DataConfig(source=f"npz:{ids_npz}", seed=5, validation_fraction=0.25, test_fraction=0.2)
    data = load_data(cfg)
    train, val, test = _ids(data.train), _ids(data.validation), _ids(data.test)
    assert (len(train), len(val), len(test)) == (60, 20, 20)
    assert sorted(train + val + test) == list(range(100))
    clear_cache()
    again = load_data(cfg)
    assert _ids(again.train) == train and _ids(again.test) == test
    other = load_data(DataConfig(source=f"npz:{ids_npz}", seed=6, validation_fraction=0.25, test_fraction=0.2))
    assert _ids(other.test) != test
    assert data.train.y.tolist() == [i % 5 for i in train]  # labels travel with their rows


def test_validation_is_carved_from_official_train(tmp_path: Path) -> None:
    path = tmp_path / "tt.npz"
    np.savez(path, x_train=np.arange(50.0)[:, None], x_test=np.arange(100.0, 110.0)[:, None])
    data = load_data(DataConfig(source=f"npz:{path}", validation_fraction=0.2, test_fraction=0.5))
    assert sorted(_ids(data.train) + _ids(data.validation)) == list(range(50))
    assert len(data.validation) == 10
    assert _ids(data.test) == list(range(100, 110))  # test_fraction does not apply


def test_classes_filter_every_split_without_moving_examples(ids_npz: Path) -> None:
    full = load_data(DataConfig(source=f"npz:{ids_npz}"))
    some = load_data(DataConfig(source=f"npz:{ids_npz}", classes=(1, 3)))
    for name in ("train", "validation", "test"):
        kept = some.split(name)
        assert set(kept.y.tolist()) <= {1, 3}
        assert _ids(kept) == [i for i in _ids(full.split(name)) if i % 5 in (1, 3)]
    assert some.num_classes == 5  # labels keep their values


def test_classes_errors(ids_npz: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"\[7\]"):
        load_data(DataConfig(source=f"npz:{ids_npz}", classes=(1, 7)))
    unlabelled = tmp_path / "u.npz"
    np.savez(unlabelled, x=np.zeros((10, 2)))
    with pytest.raises(DataError, match="no labels"):
        load_data(DataConfig(source=f"npz:{unlabelled}", classes=(0,)))


def test_limit_takes_first_train_examples(ids_npz: Path) -> None:
    full = load_data(DataConfig(source=f"npz:{ids_npz}"))
    small = load_data(DataConfig(source=f"npz:{ids_npz}", limit=7))
    assert _ids(small.train) == _ids(full.train)[:7]
    assert _ids(small.test) == _ids(full.test) and _ids(small.validation) == _ids(full.validation)
    assert len(load_data(DataConfig(source=f"npz:{ids_npz}", limit=10_000)).train) == len(full.train)


def test_static_binarize_is_fixed_and_binary() -> None:
    cfg = DataConfig(source="digits", binarize="static")
    a = load_data(cfg)
    grey = load_data(DataConfig(source="digits"))
    assert bool(((a.train.x == 0) | (a.train.x == 1)).all())
    assert abs(a.train.x.mean().item() - grey.train.x.mean().item()) < 0.01
    clear_cache()
    b = load_data(cfg)
    assert a.checksum == b.checksum and torch.equal(a.test.x, b.test.x)
    # limiting train leaves the validation and test samples as they were
    limited = load_data(DataConfig(source="digits", binarize="static", limit=50))
    assert torch.equal(limited.test.x, a.test.x) and torch.equal(limited.validation.x, a.validation.x)
    # dynamic binarisation is the trainer's, per batch: the data stays grey
    assert load_data(DataConfig(source="digits", binarize="dynamic")).checksum == grey.checksum


def test_static_binarize_float_images(tmp_path: Path) -> None:
    path = tmp_path / "img.npz"
    np.savez(path, x=np.full((10, 1, 2, 2), 0.5, np.float32))
    data = load_data(DataConfig(source=f"npz:{path}", binarize="static", test_fraction=0.0))
    assert set(torch.cat([data.train.x, data.validation.x]).unique().tolist()) == {0.0, 1.0}


def test_checksum_and_cache(ids_npz: Path) -> None:
    cfg = DataConfig(source=f"npz:{ids_npz}")
    a = load_data(cfg)
    assert len(a.checksum) == 64 and int(a.checksum, 16) >= 0
    assert load_data(cfg) is a  # same tensors, no re-decoding
    assert load_data(DataConfig(source=f"npz:{ids_npz}", seed=1)).checksum != a.checksum
    # a replaced file is noticed (size/mtime are part of the cache key)
    np.savez(ids_npz, x=np.arange(101, dtype=np.float32)[:, None], y=np.arange(101) % 5)
    assert load_data(cfg).checksum != a.checksum


@pytest.mark.parametrize(
    "bad",
    [{"validation_fraction": 1.0}, {"test_fraction": -0.1}, {"limit": 0}, {"classes": ()}],
)
def test_bad_settings(bad: dict) -> None:
    with pytest.raises(ConfigError):
        load_data(DataConfig(source="digits", **bad))


def test_empty_train_split_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "one.npz"
    np.savez(path, x=np.zeros((1, 3)))
    with pytest.raises(DataError, match="empty"):
        load_data(DataConfig(source=f"npz:{path}", test_fraction=0.9))
