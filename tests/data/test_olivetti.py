"""The ``olivetti`` source: a local folder of per-person PNGs, else scikit-learn's fetch; one-line error without either."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vaekit.data.olivetti as olivetti
from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.data.images import list_images
from vaekit.data.registry import clear_cache
from vaekit.errors import DataFormatError, DatasetNotFoundError

ROOT = Path(__file__).resolve().parents[2]
SHARED = next(
    (p for p in (ROOT.parent / "shared" / "data" / "faces" / "olivetti", Path("/work/shared/data/faces/olivetti")) if p.is_dir()),
    None,
)
# sha256 of the uint8 (400, 64, 64) array in scikit-learn's order (shared/data/SOURCES.md)
SKLEARN_SHA256 = "a3f75007cc103363b61a63e06bec8ea4846407682ef6e7c9ae1eb9c1bd0e8a00"


@pytest.fixture(autouse=True)
def fresh_cache():
    clear_cache()
    yield
    clear_cache()


def _fake_faces(root: Path, people: int = 3, each: int = 4) -> np.ndarray:
    """people x each 64x64 PNGs in olivetti/<label:02d>/<i:03d>.png; returns the (N, 64, 64) uint8 pixels."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 243, size=(people * each, 64, 64)).astype(np.uint8)
    x[0, 0, 0] = 242
    for i, a in enumerate(x):
        d = root / "olivetti" / f"{i // each:02d}"
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(d / f"{i:03d}.png")
    return x


def test_a_local_folder_under_data_dir_gives_the_faces_divided_by_242(tmp_path):
    x = _fake_faces(tmp_path)
    data = load_data(DataConfig(source="olivetti", data_dir=str(tmp_path), validation_fraction=0.0, test_fraction=0.0))
    assert data.shape == (1, 64, 64) and data.num_classes == 3 and len(data.train) == 12
    order = np.argsort(data.train.y.numpy(), kind="stable")  # splits are shuffled; labels are the person folders
    assert data.train.y[order].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    got = np.round(data.train.x.numpy()[:, 0] * 242).astype(np.uint8)
    assert {a.tobytes() for a in got} == {a.tobytes() for a in x}
    assert float(data.train.x.max()) == 1.0  # 242 is white, as scikit-learn scales it


def test_scikit_learns_faces_give_the_same_arrays_as_the_folder(tmp_path, monkeypatch):
    import sklearn.datasets
    from sklearn.utils import Bunch

    x = _fake_faces(tmp_path)
    from_folder = load_data(DataConfig(source="olivetti", data_dir=str(tmp_path)))
    clear_cache()
    monkeypatch.setattr(olivetti, "candidate_folders", lambda data_dir: [])
    calls = []

    def fetch(download_if_missing=True):
        calls.append(download_if_missing)
        return Bunch(images=x.astype(np.float32) / 242.0, target=np.repeat(np.arange(3), 4))

    monkeypatch.setattr(sklearn.datasets, "fetch_olivetti_faces", fetch)
    from_sklearn = load_data(DataConfig(source="olivetti", download=False))
    assert calls == [False]
    assert from_sklearn.checksum == from_folder.checksum


def test_without_a_folder_or_a_download_the_error_is_one_line(monkeypatch):
    import sklearn.datasets

    monkeypatch.setattr(olivetti, "candidate_folders", lambda data_dir: [])

    def offline(download_if_missing=True):
        raise OSError("Data not found and `download_if_missing` is False")

    monkeypatch.setattr(sklearn.datasets, "fetch_olivetti_faces", offline)
    with pytest.raises(DatasetNotFoundError) as e:
        load_data(DataConfig(source="olivetti"))
    assert "\n" not in str(e.value) and "--data-dir" in str(e.value)


def test_a_face_of_the_wrong_size_is_named(tmp_path):
    _fake_faces(tmp_path, people=1, each=2)
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "olivetti" / "00" / "bad.png")
    with pytest.raises(DataFormatError, match="bad.png"):
        load_data(DataConfig(source="olivetti", data_dir=str(tmp_path)))


def test_the_search_includes_shared_data_beside_the_repository():
    assert ROOT.parent / "shared" / "data" / "faces" / "olivetti" in olivetti.candidate_folders(None)


@pytest.mark.skipif(SHARED is None, reason="shared/data/faces/olivetti is not on this machine")
def test_the_shared_copy_is_scikit_learns_set(tmp_path):
    data = load_data(DataConfig(source="olivetti", data_dir=str(SHARED.parent), validation_fraction=0.0, test_fraction=0.0))
    assert len(data.train) == 400 and data.num_classes == 40
    files, _, _ = list_images(SHARED)
    assert [f.name for f in files][:3] == ["000.png", "001.png", "002.png"]
    raw = olivetti.load_olivetti(DataConfig(source="olivetti", data_dir=str(SHARED.parent)), "")
    assert hashlib.sha256(np.ascontiguousarray(raw.train.x[:, 0]).tobytes()).hexdigest() == SKLEARN_SHA256
