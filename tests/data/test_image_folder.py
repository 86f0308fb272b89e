"""folder:PATH image sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import load_data
from vaekit.errors import DataFormatError, DatasetNotFoundError

Image = pytest.importorskip("PIL.Image")


def _save(path: Path, size: tuple[int, int] = (8, 6), colour: tuple[int, int, int] | int = 128, mode: str = "L") -> Path:
    """size is (W, H), as PIL has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def _load(folder: Path, **kw: object) -> object:
    return load_data(DataConfig(source=f"folder:{folder}", validation_fraction=0.0, test_fraction=0.0, **kw))


def test_class_subfolders_become_labels(tmp_path: Path) -> None:
    for name, value, count in (("dog", 200, 3), ("cat", 50, 2)):
        for i in range(count):
            _save(tmp_path / "pets" / name / f"{i}.png", colour=value)
    _save(tmp_path / "pets" / "cat" / "nested" / "deep.png", colour=50)  # searched recursively
    (tmp_path / "pets" / "cat" / ".DS_Store").write_bytes(b"\0\1junk")  # dotfiles are skipped
    data = _load(tmp_path / "pets")
    assert data.class_names == ("cat", "dog") and data.num_classes == 2
    assert sorted(data.train.y.tolist()) == [0, 0, 0, 1, 1, 1]
    # pixel values line up with labels: cat = 50, dog = 200
    means = {int(y): float(x.mean()) for x, y in zip(data.train.x, data.train.y)}
    assert means[0] == pytest.approx(50 / 255) and means[1] == pytest.approx(200 / 255)


def test_flat_folder_has_no_labels(tmp_path: Path) -> None:
    for i in range(4):
        _save(tmp_path / "flat" / f"{i}.png", colour=255)
    data = _load(tmp_path / "flat")
    assert data.train.y is None and data.num_classes is None
    assert data.shape == (1, 6, 8) and torch.all(data.train.x == 1.0)


def test_mixed_sizes_are_resized(tmp_path: Path) -> None:
    _save(tmp_path / "m" / "a.png", size=(10, 4))
    _save(tmp_path / "m" / "b.png", size=(8, 6))
    _save(tmp_path / "m" / "c.png", size=(8, 6))
    assert _load(tmp_path / "m").shape == (1, 6, 8)  # the most common size
    assert _load(tmp_path / "m", image_size=(5, 7)).shape == (1, 5, 7)  # (H, W)


def test_rgb_detection(tmp_path: Path) -> None:
    _save(tmp_path / "g" / "a.png")
    _save(tmp_path / "g" / "b.png", colour=(90, 90, 90), mode="RGB")  # grey stored as RGB
    assert _load(tmp_path / "g").shape == (1, 6, 8)
    assert _load(tmp_path / "g", channels="rgb").shape == (3, 6, 8)

    _save(tmp_path / "c" / "a.png")
    _save(tmp_path / "c" / "b.png", colour=(255, 0, 0), mode="RGB")
    data = _load(tmp_path / "c")
    assert data.shape == (3, 6, 8)
    reds = [x for x in data.train.x if x[1].max() == 0]
    assert len(reds) == 1 and torch.all(reds[0][0] == 1.0)
    assert _load(tmp_path / "c", channels="grayscale").shape == (1, 6, 8)


def test_16bit_grey_is_scaled(tmp_path: Path) -> None:
    folder = tmp_path / "deep"
    folder.mkdir()
    Image.fromarray(np.full((6, 8), 65535, np.uint16)).save(folder / "a.png")
    data = _load(folder)
    assert data.shape == (1, 6, 8) and torch.all(data.train.x == 1.0)


def test_empty_and_missing_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".hidden").write_text("x")
    with pytest.raises(DataFormatError, match="empty"):
        _load(tmp_path / "empty")
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        _load(tmp_path / "nowhere")


def test_non_image_file_is_named(tmp_path: Path) -> None:
    _save(tmp_path / "n" / "a.png")
    (tmp_path / "n" / "notes.txt").write_text("not an image")
    with pytest.raises(DataFormatError, match="not an image") as e:
        _load(tmp_path / "n")
    assert str(tmp_path / "n" / "notes.txt") in str(e.value)


def test_truncated_image_is_named(tmp_path: Path) -> None:
    path = _save(tmp_path / "t" / "a.png", size=(64, 64), mode="RGB", colour=(1, 2, 3))
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFormatError) as e:
        _load(tmp_path / "t")
    assert str(path) in str(e.value)


def test_class_layout_errors(tmp_path: Path) -> None:
    _save(tmp_path / "l" / "cls" / "a.png")
    _save(tmp_path / "l" / "loose.png")
    with pytest.raises(DataFormatError, match="loose.png"):
        _load(tmp_path / "l")
    _save(tmp_path / "e" / "cls" / "a.png")
    (tmp_path / "e" / "empty_class").mkdir()
    with pytest.raises(DataFormatError, match="empty_class"):
        _load(tmp_path / "e")
