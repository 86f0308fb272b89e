"""npz and csv sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.errors import ConfigError, DataFormatError, DatasetNotFoundError

# ---------------------------------------------------------------- npz


def test_npz_uint8_images_round_trip(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (40, 5, 6), dtype=np.uint8)
    y = np.arange(40) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    data = load_data(DataConfig(source=f"npz:{tmp_path / 'd.npz'}", validation_fraction=0.25, test_fraction=0.2))
    assert data.kind == "image" and data.shape == (1, 5, 6) and data.num_classes == 4
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 8, 8)
    # every example comes back exactly once, scaled by 1/255, with its label
    got = torch.cat([data.train.x, data.validation.x, data.test.x]).mul(255).round().to(torch.uint8)
    labels = torch.cat([data.train.y, data.validation.y, data.test.y])
    order = np.lexsort(got.reshape(40, -1).numpy().T[::-1])
    want = np.lexsort(x.reshape(40, -1).T[::-1])
    np.testing.assert_array_equal(got.numpy()[order, 0], x[want])
    np.testing.assert_array_equal(labels.numpy()[order], y[want])


def test_npz_official_split_float_channels_last(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x_train = rng.random((30, 4, 4, 3), dtype=np.float32)  # (N, H, W, C)
    x_test = rng.random((6, 4, 4, 3), dtype=np.float32)
    np.savez(tmp_path / "d.npz", x_train=x_train, x_test=x_test)
    data = load_data(DataConfig(source=f"npz:{tmp_path / 'd.npz'}", validation_fraction=0.1))
    assert data.shape == (3, 4, 4) and data.train.y is None and data.num_classes is None
    assert len(data.train) + len(data.validation) == 30
    np.testing.assert_array_equal(data.test.x.numpy(), x_test.transpose(0, 3, 1, 2))  # kept, in order


def test_npz_table_is_kept_unscaled(tmp_path: Path) -> None:
    x = np.arange(60, dtype=np.float64).reshape(20, 3) * 7
    np.savez(tmp_path / "t.npz", x=x)
    data = load_data(DataConfig(source=f"npz:{tmp_path / 't.npz'}"))
    assert data.kind == "tabular" and data.shape == (3,) and data.scaler is None
    rows = torch.cat([data.train.x, data.validation.x, data.test.x])
    assert sorted(rows[:, 0].tolist()) == sorted(x[:, 0].tolist())


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"images": np.zeros((3, 2, 2), np.uint8)}, "expected 'x'"),
        ({"x": np.zeros((3, 2, 2), np.uint8), "z": np.zeros(3)}, "expected 'x'"),
        ({"x": np.full((3, 2, 2), 2.0)}, r"in \[0, 1\]"),
        ({"x": np.zeros((3, 2, 2), np.uint8), "y": np.zeros(4)}, "expected \\(3,\\) labels"),
        ({"x": np.zeros((3, 2, 2), np.uint8), "y": np.array([0.5, 1, 2])}, "whole numbers"),
        ({"x": np.zeros(3, np.uint8)}, "expected \\(N, D\\)"),
        ({"x_train": np.zeros((3, 2)), "x_test": np.zeros((3, 4))}, "does not match"),
    ],
)
def test_npz_bad_contents(tmp_path: Path, arrays: dict, match: str) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataFormatError, match=match) as e:
        load_data(DataConfig(source=f"npz:{path}"))
    assert str(path) in str(e.value)


def test_npz_not_an_npz(tmp_path: Path) -> None:
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match="junk.npz"):
        load_data(DataConfig(source=f"npz:{tmp_path / 'junk.npz'}"))
    np.save(tmp_path / "arr.npy", np.zeros(3))
    with pytest.raises(DataFormatError, match=r"\.npy"):
        load_data(DataConfig(source=f"npz:{tmp_path / 'arr.npy'}"))
    with pytest.raises(DatasetNotFoundError):
        load_data(DataConfig(source=f"npz:{tmp_path / 'absent.npz'}"))


# ---------------------------------------------------------------- csv


def _write_csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_round_trip_through_scaler(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(5, 3, (50, 3)).round(3)
    rows = [f"{a},{b},{c},{i % 3}" for i, (a, b, c) in enumerate(values)]
    path = _write_csv(tmp_path / "t.csv", "a,b,c,label", rows)
    data = load_data(DataConfig(source=f"csv:{path}"))
    assert data.kind == "tabular" and data.shape == (3,) and data.num_classes == 3
    assert data.scaler is not None and data.scaler.columns == ("a", "b", "c")
    restored = torch.cat([data.scaler.inverse(s.x) for s in (data.train, data.validation, data.test)])
    got = sorted(map(tuple, restored.double().numpy().round(3).tolist()))
    assert np.allclose(got, sorted(map(tuple, values.tolist())), atol=1e-3)


def test_csv_scaler_is_fitted_on_train_only(tmp_path: Path) -> None:
    rows = [f"{i},{i * i % 17},1" for i in range(40)]  # third column constant
    path = _write_csv(tmp_path / "t.csv", "u,v,w", rows)
    data = load_data(DataConfig(source=f"csv:{path}", seed=2))
    train_raw = data.scaler.inverse(data.train.x).double()
    assert np.allclose(data.scaler.mean, train_raw.mean(0).numpy(), atol=1e-4)
    assert np.allclose(data.scaler.std[:2], train_raw.std(0, unbiased=False)[:2].numpy(), atol=1e-4)
    assert data.scaler.std[2] == 1.0 and data.scaler.mean[2] == 1.0  # zero variance -> std 1
    assert torch.allclose(data.train.x.mean(0), torch.zeros(3), atol=1e-5)
    assert not torch.allclose(data.test.x.mean(0)[:2], torch.zeros(2), atol=1e-3)


def test_csv_missing_cells_stay_nan_and_are_ignored(tmp_path: Path) -> None:
    rows = ["1,", "NA,4", "3,nan", "5,8", "7,"] * 4
    path = _write_csv(tmp_path / "m.csv", "p,q", rows)
    data = load_data(DataConfig(source=f"csv:{path}", validation_fraction=0.0, test_fraction=0.0))
    assert torch.isnan(data.train.x).sum().item() == 16
    assert np.isclose(data.scaler.mean[0], 4.0) and np.isclose(data.scaler.mean[1], 6.0)


def test_csv_string_labels_become_class_names(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "s.csv", "x,y", [f"{i},{'cat' if i % 2 else 'dog'}" for i in range(20)])
    data = load_data(DataConfig(source=f"csv:{path}"))
    assert data.class_names == ("cat", "dog") and data.num_classes == 2
    assert set(data.train.y.tolist()) == {0, 1}


def test_csv_non_numeric_names_file_column_and_line(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "bad.csv", "a,colour,label", ["1,2,0", "3,red,1", "5,6,0"])
    with pytest.raises(DataFormatError) as e:
        load_data(DataConfig(source=f"csv:{path}"))
    msg = str(e.value)
    assert str(path) in msg and "'colour'" in msg and "line 3" in msg and "'red'" in msg


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("a,b\n", "no data rows"),
        ("1,2\n3,4\n", "header row"),
        ("a,b\n1,2\n3\n", "line 3: 1 values"),
        ("a,a\n1,2\n", "duplicate"),
        ("a,label\n1,\n", "label is missing"),
        ("a,b\n1,inf\n", "infinite"),
        ("label\n1\n", "no feature columns"),
    ],
)
def test_csv_bad_files(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError, match=match):
        load_data(DataConfig(source=f"csv:{path}"))


def test_csv_cannot_be_binarized(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "t.csv", "a", [str(i / 10) for i in range(10)])
    with pytest.raises(ConfigError, match="binarize"):
        load_data(DataConfig(source=f"csv:{path}", binarize="static"))
