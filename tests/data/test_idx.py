"""The strict IDX reader and where IDX files are looked for."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from vaekit.config import DataConfig
from vaekit.data import idx as idx_module
from vaekit.data import load_data
from vaekit.data.idx import find_idx_files, read_idx
from vaekit.errors import DataFormatError, DatasetNotFoundError


@pytest.mark.parametrize("gz", [True, False])
def test_round_trip_uint8(tmp_path: Path, idx_writer, gz: bool) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = read_idx(idx_writer(tmp_path / "a", arr, gz=gz))
    assert out.dtype == np.uint8 and out.shape == (2, 3, 4)
    np.testing.assert_array_equal(out, arr)


def test_multibyte_dtype_is_big_endian_on_disk(tmp_path: Path) -> None:
    arr = np.array([[1, -2], [300, 70000]], dtype=">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + np.array([2, 2], ">i4").tobytes() + arr.tobytes())
    out = read_idx(path)
    assert out.dtype == np.dtype("int32") and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_payload_names_file_and_byte_counts(tmp_path: Path, idx_writer, gz: bool) -> None:
    good = idx_writer(tmp_path / "full", np.zeros((5, 28, 28), np.uint8), gz=False).read_bytes()
    path = tmp_path / "train-images-idx3-ubyte.gz"
    short = good[:-100]
    path.write_bytes(gzip.compress(short) if gz else short)
    with pytest.raises(DataFormatError) as e:
        read_idx(path)
    msg = str(e.value)
    assert str(path) in msg and "truncated" in msg
    assert str(5 * 28 * 28) in msg and str(5 * 28 * 28 - 100) in msg


def test_extra_bytes_are_an_error(tmp_path: Path, idx_writer) -> None:
    path = idx_writer(tmp_path / "x", np.zeros((2, 2), np.uint8), gz=False)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(DataFormatError, match="longer than its header"):
        read_idx(path)


def test_bad_magic_names_file(tmp_path: Path) -> None:
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x12\x34\x08\x01" + b"\0" * 20)
    with pytest.raises(DataFormatError, match="bad magic") as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_corrupt_gzip_names_file(tmp_path: Path, idx_writer) -> None:
    path = idx_writer(tmp_path / "c.gz", np.arange(4000, dtype=np.uint8).reshape(40, 100))
    data = bytearray(path.read_bytes())
    data[20:40] = b"\xff" * 20  # damage the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match="corrupt or truncated gzip") as e:
        read_idx(path)
    assert str(path) in str(e.value)


def test_cut_gzip_names_file(tmp_path: Path, idx_writer) -> None:
    path = idx_writer(tmp_path / "cut.gz", np.random.default_rng(0).integers(0, 255, (50, 50)))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(DataFormatError, match="gzip") as e:
        read_idx(path)
    assert str(path) in str(e.value)


# ---------------------------------------------------------------- finding files


def test_data_dir_then_env_then_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_env: Path, fake_mnist_dir: Path
) -> None:
    monkeypatch.setattr(idx_module, "SYSTEM_DATA_DIR", tmp_path / "no-system")
    env_root = tmp_path / "env"
    (env_root / "mnist").mkdir(parents=True)
    for f in fake_mnist_dir.iterdir():  # $VAEKIT_DATA/<name> layout
        (env_root / "mnist" / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("VAEKIT_DATA", str(env_root))

    # data_dir comes first
    found = find_idx_files("mnist", str(fake_mnist_dir))
    assert set(found) == set(idx_module.IDX_STEMS)
    assert all(p.parent == fake_mnist_dir for p in found.values())
    # then $VAEKIT_DATA/<name>
    assert all(p.parent == env_root / "mnist" for p in find_idx_files("mnist", None).values())
    # then the user cache ($XDG_CACHE_HOME/vaekit/<name>)
    monkeypatch.delenv("VAEKIT_DATA")
    cache = isolated_env / "vaekit" / "mnist"
    cache.mkdir(parents=True)
    for f in fake_mnist_dir.iterdir():
        (cache / f.name).write_bytes(f.read_bytes())
    assert all(p.parent == cache for p in find_idx_files("mnist", None).values())


def test_ungzipped_names_are_accepted(tmp_path: Path, mnist_writer) -> None:
    folder = mnist_writer(tmp_path / "raw", gz=False)
    found = find_idx_files("mnist", str(folder))
    assert all(p.suffix != ".gz" for p in found.values())


def test_not_found_without_download_says_where_it_looked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idx_module, "SYSTEM_DATA_DIR", tmp_path / "no-system")
    with pytest.raises(DatasetNotFoundError) as e:
        load_data(DataConfig(source="mnist", data_dir=str(tmp_path / "empty"), download=False))
    msg = str(e.value)
    assert "looked in" in msg and str(tmp_path / "empty") in msg
    assert "\n" not in msg  # one line, as every vaekit error
    assert "--data-dir" in msg and "VAEKIT_DATA" in msg


def test_fake_mnist_loads_with_official_split(fake_mnist_dir: Path) -> None:
    cfg = DataConfig(source="mnist", data_dir=str(fake_mnist_dir), download=False, validation_fraction=0.2)
    data = load_data(cfg)
    assert (len(data.train), len(data.validation), len(data.test)) == (24, 6, 10)
    assert data.shape == (1, 28, 28) and data.num_classes == 10
    # the official test split is kept in file order: image i is all i/255
    np.testing.assert_allclose(data.test.x[:, 0, 0, 0].numpy(), np.arange(10) / 255, rtol=1e-6)
    assert data.test.y.tolist() == list(range(10))
    assert load_data(cfg) is data  # cached: same tensors, not decoded again
