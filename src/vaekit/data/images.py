"""``folder:PATH``: a folder of images, optionally one subfolder per class.

- Class subfolders (sorted names -> labels 0, 1, ...; searched recursively) or a flat folder
  (no labels). With class subfolders, a loose file at the top is an error.
- Files and folders whose names start with "." (.DS_Store, .ipynb_checkpoints) are skipped; any
  other file PIL cannot read is an error naming it.
- Size: data.image_size (H, W), else the most common size (ties: the first seen); others are
  resized (antialiased bilinear). Channels: data.channels; "auto" is RGB if any image has colour
  (an RGB file with equal channels counts as grey), else grayscale. Alpha is dropped.
- Output (N, C, H, W) uint8, scaled to float32 [0, 1] by load_data.
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.config import DataConfig
from vaekit.data.registry import Part, Raw, cached_raw, file_key, register
from vaekit.errors import DataFormatError, DatasetNotFoundError
from vaekit.resources import memory_limit

GRAY_MODES = frozenset({"1", "L", "LA", "La"})


@register("folder", takes_path=True)
def load_folder(cfg: DataConfig, path_text: str) -> Raw:
    root = Path(path_text)
    if not root.exists():
        raise DatasetNotFoundError(f"image folder {root} does not exist")
    if not root.is_dir():
        raise DataFormatError(f"{root} is a file; folder:PATH needs a folder of images")
    files, labels, class_names = list_images(root)
    key = ("folder", file_key(files), tuple(labels or ()), cfg.image_size, cfg.channels)
    return cached_raw(key, lambda: read_images(files, labels, class_names, cfg))


def list_images(root: Path) -> tuple[list[Path], list[int] | None, tuple[str, ...]]:
    """(files in order, label per file or None, class names)."""
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    for p in entries:
        _check_entry(root, p)
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file()]
    if not class_dirs:
        if not loose:
            raise DataFormatError(f"image folder {root} is empty; put image files in it")
        return loose, None, ()
    if loose:
        raise DataFormatError(
            f"{loose[0]}: {root} has class subfolders, so every image must be inside one; "
            "move this file into a class folder or out of the data folder"
        )
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(class_dirs):
        found = _walk(folder)
        if not found:
            raise DataFormatError(f"class folder {folder} has no images; add some or remove it")
        files += found
        labels += [label] * len(found)
    return files, labels, tuple(p.name for p in class_dirs)


def _check_entry(root: Path, p: Path) -> None:
    """Links that lead nowhere or back into the folder, and special files, named as what they are."""
    if p.is_symlink():
        if not p.exists():
            raise DataFormatError(f"{p} is a broken or looping symbolic link; remove it, or point it at an image or a folder")
        target = Path(os.path.realpath(p))
        if p.is_dir() and Path(os.path.realpath(root)).is_relative_to(target):
            raise DataFormatError(f"{p} is a symbolic link to {target}, which contains it (a loop); remove the link")
    elif not p.is_dir() and not p.is_file():
        raise DataFormatError(f"{p} is neither an image file nor a folder; remove it from the data folder")


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    for here, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(here) / n for n in sorted(names) if not n.startswith(".")]
    return out


def read_images(files: list[Path], labels: list[int] | None, class_names: tuple[str, ...], cfg: DataConfig) -> Raw:
    from PIL import Image

    height, width = common_size(files, cfg)
    need = 2 * len(files) * 3 * height * width  # decoded images, then the stacked array; colour at most
    if need > memory_limit():
        raise DataFormatError(
            f"{len(files)} images of {height}x{width} pixels need about {need / 1e9:.1f} GB to decode, more than this "
            "machine's memory; set data.image_size smaller, or data.streaming = true"
        )
    arrays = []  # (H, W) grey or (H, W, 3) colour, uint8
    for path in files:
        with _open(path) as im:
            arrays.append(decode_file(path, im, (width, height), cfg.channels, Image))

    colour = cfg.channels == "rgb" or (cfg.channels == "auto" and any(a.ndim == 3 and not _is_neutral(a) for a in arrays))
    x = np.empty((len(arrays), 3 if colour else 1, height, width), np.uint8)  # (N, C, H, W)
    for i, a in enumerate(arrays):
        x[i] = to_chw(a, colour)
    y = None if labels is None else np.asarray(labels, np.int64)
    return Raw(
        "image",
        Part(x, y),
        num_classes=len(class_names) or None,
        class_names=class_names,
    )


def common_size(files: list[Path], cfg: DataConfig) -> tuple[int, int]:
    """(H, W) every image is resized to: data.image_size, else the most common size (headers only)."""
    if cfg.image_size is not None:
        return cfg.image_size
    sizes = []  # (W, H) as PIL reports it
    for path in files:
        with _open(path) as im:
            sizes.append(im.size)
    width, height = Counter(sizes).most_common(1)[0][0]
    return height, width


def is_colour(files: list[Path], size: tuple[int, int], cfg: DataConfig) -> bool:
    """The channel decision of read_images without keeping pixels: decodes colour-mode files
    until one is not neutral grey (all of them, when the folder is grey saved as RGB)."""
    from PIL import Image

    if cfg.channels != "auto":
        return cfg.channels == "rgb"
    height, width = size
    for path in files:
        with _open(path) as im:
            if im.mode in GRAY_MODES or im.mode.startswith("I") or im.mode == "F":
                continue
            a = decode_file(path, im, (width, height), cfg.channels, Image)
        if a.ndim == 3 and not _is_neutral(a):
            return True
    return False


def decode_file(path: Path, im: Any, size: tuple[int, int], channels: str, image_module: Any) -> np.ndarray:
    """_decode, with undecodable pixel data reported as a DataFormatError naming the file."""
    try:
        return _decode(im, size, channels, image_module)
    except (OSError, ValueError) as e:  # truncated or undecodable pixel data
        raise DataFormatError(f"{path} could not be decoded: {e}") from e


def to_chw(a: np.ndarray, colour: bool) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8 -> (C, H, W): grey broadcasts to RGB; neutral RGB keeps one channel."""
    if colour:
        return a.transpose(2, 0, 1) if a.ndim == 3 else np.broadcast_to(a[None], (3, *a.shape))
    return (a[..., 0] if a.ndim == 3 else a)[None]


def _open(path: Path) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():  # a decompression bomb is an error naming the file, not a warning
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise DataFormatError(f"{path} is too large to decode safely ({e}); resize it, or remove it from the folder") from None
    except UnidentifiedImageError:
        raise DataFormatError(
            f"{path} is not an image (PIL cannot read it); remove it or move it out of the "
            "folder (names starting with '.' are skipped)"
        ) from None
    except OSError as e:
        raise DataFormatError(f"{path} could not be read: {e.strerror or e}") from None


def _decode(im: Any, size: tuple[int, int], channels: str, image_module: Any) -> np.ndarray:
    """One image at `size` (W, H): (H, W) uint8 if grey (or forced grey), else (H, W, 3)."""
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: scale to 8 bits
        a = np.asarray(im, dtype=np.float64)
        top = 1.0 if im.mode == "F" and a.max() <= 1 else 255.0 if a.max() <= 255 else 65535.0
        im = image_module.fromarray(np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8))
    grey = channels == "grayscale" or im.mode in GRAY_MODES or im.mode == "L"
    im = im.convert("L" if grey else "RGB")
    if im.size != size:
        im = im.resize(size, image_module.Resampling.BILINEAR)
    return np.asarray(im)


def _is_neutral(a: np.ndarray) -> bool:
    """True if an (H, W, 3) image has R == G == B everywhere (a grey image saved as RGB)."""
    return bool((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all())
