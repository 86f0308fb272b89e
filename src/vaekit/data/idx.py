"""Strict reader for the MNIST file format (IDX), and where standard data files are looked for.

An IDX file is: two zero bytes, a dtype code, the number of dimensions, one big-endian int32 per
dimension, then exactly prod(dims) items. Anything else (bad magic, a short or long payload, a
broken gzip stream) is a :class:`DataFormatError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import struct
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.errors import DataFormatError, DatasetNotFoundError
from vaekit.resources import memory_limit

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


GZIP_MAX_RATIO = 1100  # deflate cannot expand a stream more than ~1032-fold
READ_LIMIT = 256 << 20  # bytes read_bytes inflates at most: the largest standard file is 78 MB


def read_bytes(path: Path, limit: int = READ_LIMIT) -> bytes:
    """The file's contents, gunzipped when it is gzip (by its magic bytes, not its name), streamed
    so a small file that inflates to more than ``limit`` bytes stops there with an error."""
    try:
        with open(path, "rb") as raw:
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
            data = f.read(limit + 1)
    except OSError as e:
        if isinstance(e, gzip.BadGzipFile) or not getattr(e, "errno", None):
            raise DataFormatError(f"{path} is a corrupt or truncated gzip file ({e}); delete it and fetch it again") from None
        raise DataFormatError(f"{path} could not be read: {e.strerror or e}") from None
    except (EOFError, zlib.error) as e:
        raise DataFormatError(f"{path} is a corrupt or truncated gzip file ({e}); delete it and fetch it again") from None
    if len(data) > limit:
        raise DataFormatError(f"{path} holds more than {limit >> 20} MB of data; it is not a standard data file")
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (raw or gzipped) into an array in native byte order. The header is read and
    checked first; then exactly the bytes it announces are read (streamed), so a bad or hostile
    header costs no more memory than the data it claims, and never more than the machine has."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            size = os.fstat(raw.fileno()).st_size
            gz = raw.read(2) == b"\x1f\x8b"
            raw.seek(0)
            f = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
            return _read_idx(path, f, size, gz)
    except OSError as e:
        if isinstance(e, gzip.BadGzipFile) or not getattr(e, "errno", None):
            raise DataFormatError(f"{path} is a corrupt or truncated gzip file ({e}); delete it and fetch it again") from None
        raise DataFormatError(f"{path} could not be read: {e.strerror or e}") from None
    except (EOFError, zlib.error) as e:
        raise DataFormatError(f"{path} is a corrupt or truncated gzip file ({e}); delete it and fetch it again") from None


def _read_idx(path: Path, f: io.BufferedIOBase, size: int, gz: bool) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise DataFormatError(f"{path} is not an IDX (MNIST-format) file: bad magic number {magic.hex() or 'none'}")
    ndim = magic[3]
    head = f.read(4 * ndim)
    if ndim == 0 or len(head) < 4 * ndim:
        raise DataFormatError(f"{path}: IDX header is truncated or has no dimensions")
    dims = struct.unpack(f">{ndim}i", head)
    if any(d < 0 for d in dims):
        raise DataFormatError(f"{path}: IDX header has a negative dimension {dims}; the file is damaged")
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    expected = math.prod(dims) * dtype.itemsize  # Python ints: no overflow
    header = 4 + 4 * ndim
    if not gz and expected != size - header:  # a plain file's size says it all, before any reading
        found = size - header
        what = "truncated" if found < expected else "longer than its header says"
        raise DataFormatError(
            f"{path} is {what}: the header {dims} needs {expected} bytes of data, found {found}; delete the file and fetch it again"
        )
    if gz and expected > size * GZIP_MAX_RATIO:  # more than deflate can expand this file to
        raise DataFormatError(
            f"{path} is truncated: the header {dims} needs {expected} bytes of data, more than the "
            f"{size}-byte gzip file can hold; delete the file and fetch it again"
        )
    if expected > memory_limit():
        raise DataFormatError(
            f"{path}: the header {dims} claims {expected / 1e9:.1f} GB of data, more than this machine's memory"
        )
    data = f.read(expected)
    if len(data) < expected:
        raise DataFormatError(
            f"{path} is truncated: the header {dims} needs {expected} bytes of data, "
            f"found {len(data)}; delete the file and fetch it again"
        )
    if f.read(1):
        raise DataFormatError(
            f"{path} is longer than its header says: the header {dims} needs {expected} bytes of data; "
            "delete the file and fetch it again"
        )
    arr = np.frombuffer(data, dtype).reshape(dims)
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


def find_files(name: str, stems: Sequence[str], data_dir: str | None, *, download: bool = False) -> dict[str, Path]:
    """Locate every file in `stems` in one folder (see :func:`search_dirs`); when none has them
    all and `download` is set, fetch the missing ones into the user cache."""
    dirs = search_dirs(name, data_dir)
    for folder in dirs:
        found = {stem: _find_in(folder, stem) for stem in stems}
        if all(p is not None for p in found.values()):
            return {stem: p for stem, p in found.items() if p is not None}

    needed = ", ".join(stem + "[.gz]" for stem in stems)
    where = f"{name}: data files not found (needed: {needed}; looked in: {', '.join(str(d) for d in dirs)})"
    how = "put the files in a folder and pass --data-dir FOLDER (data.data_dir) or set VAEKIT_DATA=FOLDER"
    if not download:
        raise DatasetNotFoundError(f"{where}; downloading is off (data.download = false): {how}")

    from vaekit.data.download import fetch  # only when we really download

    dest = cache_dir(name)
    out: dict[str, Path] = {}
    try:
        for stem in stems:
            out[stem] = _find_in(dest, stem) or fetch(name, stem, dest, progress=sys.stderr.isatty())
    except DatasetNotFoundError as e:
        raise DatasetNotFoundError(f"{where}; {e}") from None
    return out


def find_idx_files(name: str, data_dir: str | None, *, download: bool = False) -> dict[str, Path]:
    """The four MNIST-format files of `name` ("mnist" or "fashion-mnist"), keyed by stem."""
    return find_files(name, IDX_STEMS, data_dir, download=download)
