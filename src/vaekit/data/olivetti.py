"""``olivetti``: the Olivetti (AT&T / ORL) faces, 400 images of 40 people, 64x64 grey, labels 0-39.

Looked for, in order: a local folder of the images as PNGs in one subfolder per person (the layout
of ``shared/data/faces/olivetti``: ``00/000.png`` ... ``39/399.png``) under ``data.data_dir``,
``$VAEKIT_DATA``, ``../shared/data/faces`` beside the working directory or the repository, and
``/work/shared/data/faces``; then scikit-learn's own cache of ``fetch_olivetti_faces``
(``~/scikit_learn_data``), which it downloads when missing and ``data.download`` allows.

Both give the same arrays: scikit-learn serves the pixels divided by their maximum, 242, so the
PNGs' 8-bit values are divided by 242 too (``Raw.pixel_max``) and the cached floats are turned
back into those integers. There is no official test split: ``data.test_fraction`` carves one.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from vaekit.config import DataConfig
from vaekit.data.registry import Part, Raw, cached_raw, file_key, register
from vaekit.errors import DataFormatError, DatasetNotFoundError

PIXEL_MAX = 242.0  # the largest pixel value of the set; scikit-learn divides by it
SIZE = 64
FOLDER = "olivetti"
_REPO = Path(__file__).resolve().parents[3]  # the repository root for an editable install


def candidate_folders(data_dir: str | None) -> list[Path]:
    """Where a local copy of the image folder is looked for, in order."""
    roots: list[Path] = []
    for base in (data_dir, os.environ.get("VAEKIT_DATA")):
        if base:
            root = Path(base).expanduser()
            roots += [root, root / FOLDER, root / "faces" / FOLDER]
    for start in (Path.cwd(), _REPO):
        roots.append(start.parent / "shared" / "data" / "faces" / FOLDER)
    roots.append(Path("/work/shared/data/faces") / FOLDER)
    return list(dict.fromkeys(roots))


def _is_face_folder(path: Path) -> bool:
    return path.is_dir() and any(p.is_dir() and p.name.isdigit() for p in path.iterdir())


@register("olivetti")
def load_olivetti(cfg: DataConfig, arg: str) -> Raw:
    """(400, 1, 64, 64) uint8 faces (scaled by 1/242) and person labels 0-39."""
    folder = next((p for p in candidate_folders(cfg.data_dir) if _is_face_folder(p)), None)
    if folder is not None:
        from vaekit.data.images import list_images

        files, labels, names = list_images(folder)
        if labels is None:  # pragma: no cover - _is_face_folder found class folders
            raise DataFormatError(f"{folder}: expected one subfolder of images per person")
        return cached_raw(("olivetti", file_key(files)), lambda: _read_folder(files, labels, names))
    return cached_raw(("olivetti", "sklearn"), lambda: _fetch_sklearn(cfg))


def _read_folder(files: list[Path], labels: list[int], names: tuple[str, ...]) -> Raw:
    from PIL import Image, UnidentifiedImageError

    x = np.empty((len(files), 1, SIZE, SIZE), np.uint8)
    for i, path in enumerate(files):
        try:
            with Image.open(path) as im:
                a = np.asarray(im.convert("L"))
        except (UnidentifiedImageError, OSError) as e:
            raise DataFormatError(f"{path} is not a readable image ({e})") from None
        if a.shape != (SIZE, SIZE):
            raise DataFormatError(f"{path} is {a.shape[1]}x{a.shape[0]}; the Olivetti faces are {SIZE}x{SIZE}")
        x[i, 0] = a
    return Raw("image", Part(x, np.asarray(labels, np.int64)), num_classes=len(names), class_names=names, pixel_max=PIXEL_MAX)


def _fetch_sklearn(cfg: DataConfig) -> Raw:
    try:
        from sklearn.datasets import fetch_olivetti_faces
    except ImportError:
        raise DatasetNotFoundError(_not_found(cfg, "scikit-learn is not installed: pip install 'vaekit[sklearn]'")) from None
    try:
        with warnings.catch_warnings():  # its "Retry downloading" warnings: the failure below says it once
            warnings.simplefilter("ignore", UserWarning)
            faces = fetch_olivetti_faces(download_if_missing=cfg.download)
    except OSError as e:  # not cached and downloading is off (OSError), or the network failed (URLError is one)
        raise DatasetNotFoundError(_not_found(cfg, f"scikit-learn's download failed ({e})")) from None
    x = np.round(np.asarray(faces.images, np.float64) * PIXEL_MAX).astype(np.uint8)[:, None]  # (400, 1, 64, 64)
    y = np.asarray(faces.target, np.int64)
    names = tuple(f"{i:02d}" for i in range(int(y.max()) + 1))
    return Raw("image", Part(x, y), num_classes=len(names), class_names=names, pixel_max=PIXEL_MAX)


def _not_found(cfg: DataConfig, why: str) -> str:
    return (
        f"olivetti: no local copy of the faces (a folder of per-person subfolders named {FOLDER}/, looked for in "
        f"--data-dir, $VAEKIT_DATA and ../shared/data/faces) and {why}; pass --data-dir FOLDER"
    )
