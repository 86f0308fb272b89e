"""Strict reader for the MNIST file format (IDX), and where standard data files are looked for.

An IDX file is: two zero bytes, a dtype code, the number of dimensions, one big-endian int32 per
dimension, then exactly prod(dims) items. Anything else (bad magic, a short or long payload, a
broken gzip stream) is a :class:`DataFormatError` naming the file.
"""

from __future__ import annotations

import gzip
import os
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.errors import DataFormatError, DatasetNotFoundError

# IDX dtype codes -> big-endian numpy dtypes
_IDX_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

IDX_STEMS = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

SYSTEM_DATA_DIR = Path("/usr/share/datasets")  # Debian's dataset-* packages install here


def read_bytes(path: Path) -> bytes:
    """The file's contents, gunzipped when it is gzip (by its magic bytes, not its name)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataFormatError(f"{path} could not be read: {e.strerror or e}") from e
    if data[:2] != b"\x1f\x8b":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as e:
        raise DataFormatError(
            f"{path} is a corrupt or truncated gzip file ({e}); delete it and fetch it again"
        ) from e


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into a read-only array in native byte order."""
    path = Path(path)
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataFormatError(
            f"{path} is not an IDX (MNIST-format) file: bad magic number {data[:4].hex() or 'none'}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataFormatError(f"{path}: IDX header is truncated or has no dimensions")
    dims = tuple(int(d) for d in np.frombuffer(data, ">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "longer than its header says"
        raise DataFormatError(
            f"{path} is {what}: the header {dims} needs {expected} bytes of data, "
            f"found {found}; delete the file and fetch it again"
        )
    arr = np.frombuffer(data, dtype, offset=header).reshape(dims)
    return arr if dtype.itemsize == 1 else arr.astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------- finding files


def cache_dir(name: str) -> Path:
    """Where downloads go: $XDG_CACHE_HOME/vaekit/<name>, default ~/.cache/vaekit/<name>."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vaekit" / name


def search_dirs(name: str, data_dir: str | None) -> list[Path]:
    """Folders searched, in order: data_dir, $VAEKIT_DATA (each directly and under <name>),
    /usr/share/datasets/<name>, the user cache."""
    aliases = list(dict.fromkeys([name, name.replace("-", "_")]))
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("VAEKIT_DATA")):
        if base:
            root = Path(base).expanduser()
            dirs += [root] + [root / a for a in aliases]
    dirs += [SYSTEM_DATA_DIR / a for a in aliases]
    dirs.append(cache_dir(name))
    return list(dict.fromkeys(dirs))


def _variants(stem: str) -> list[str]:
    # gzipped or not; LeCun's originals also used a dot: train-images.idx3-ubyte
    dotted = stem.replace("-idx", ".idx")
    return list(dict.fromkeys([stem + ".gz", stem, dotted + ".gz", dotted]))


def _find_in(folder: Path, stem: str) -> Path | None:
    for candidate in _variants(stem):
        path = folder / candidate
        if path.is_file():
            return path
    return None


def find_files(
    name: str, stems: Sequence[str], data_dir: str | None, *, download: bool = False
) -> dict[str, Path]:
    """Locate every file in `stems` in one folder (see :func:`search_dirs`); when none has them
    all and `download` is set, fetch the missing ones into the user cache."""
    dirs = search_dirs(name, data_dir)
    for folder in dirs:
        found = {stem: _find_in(folder, stem) for stem in stems}
        if all(p is not None for p in found.values()):
            return {stem: p for stem, p in found.items() if p is not None}

    needed = ", ".join(stem + "[.gz]" for stem in stems)
    where = (
        f"{name}: data files not found.\nNeeded: {needed}\nLooked in:\n  "
        + "\n  ".join(str(d) for d in dirs)
    )
    how = (
        "Put the files in a folder and pass --data-dir FOLDER (data.data_dir) "
        "or set VAEKIT_DATA=FOLDER."
    )
    if not download:
        raise DatasetNotFoundError(f"{where}\nDownloading is off (data.download = false). {how}")

    from vaekit.data.download import fetch  # only when we really download

    dest = cache_dir(name)
    out: dict[str, Path] = {}
    try:
        for stem in stems:
            out[stem] = _find_in(dest, stem) or fetch(name, stem, dest, progress=sys.stderr.isatty())
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"{where}\n{e}") from None
    return out


def find_idx_files(name: str, data_dir: str | None, *, download: bool = False) -> dict[str, Path]:
    """The four MNIST-format files of `name` ("mnist" or "fashion-mnist"), keyed by stem."""
    return find_files(name, IDX_STEMS, data_dir, download=download)
