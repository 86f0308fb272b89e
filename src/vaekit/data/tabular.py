"""Array sources: ``csv:PATH`` (a table with a header row) and ``npz:PATH`` (numpy arrays).

CSV: every column is numeric, or all text (a categorical column, read as codes into its sorted
labels, ``Raw.categories``), except an optional label column named ``label`` or ``y``. Empty cells and
NA/NaN/null mean "missing" and stay NaN; features are standardised with a Standardizer fitted on the
training split only, or, with ``data.column_types`` (``model.likelihood = "mixed"``), each column is
typed and only numeric ones are standardised (``data/columns.py``). Integer labels >= 0 are kept; any other labels are names,
numbered in sorted order (``class_names``).

NPZ: arrays ``x`` and optional ``y`` (splits carved by seed), or ``x_train``/``y_train`` with
optional ``x_test``/``y_test`` (official test split). (N, H, W) or (N, C, H, W) arrays are images
(uint8 -> /255, float kept but must be in [0, 1]); (N, D) arrays are tables, kept as they are
(not standardised: they may be counts for a count likelihood). Never unpickles.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from vaekit.config import DataConfig
from vaekit.data.registry import Part, Raw, cached_raw, file_key, register
from vaekit.errors import DataFormatError, DatasetNotFoundError

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none"})
MAX_LABELS = 1000  # distinct texts a categorical column may hold
LABEL_COLUMNS = ("label", "y")
FLOAT32_MAX = float(np.finfo(np.float32).max)
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (the second: an empty one)
NPZ_LAYOUTS = ({"x", "y"}, {"x_train", "y_train", "x_test", "y_test"})


def _existing_file(path_text: str, what: str) -> Path:
    path = Path(path_text)
    if not path.exists():
        raise DatasetNotFoundError(f"{what} file {path} does not exist")
    if not path.is_file():
        raise DataFormatError(f"{path} is not a file; give the path of a {what} file")
    return path


# ---------------------------------------------------------------- csv


@register("csv", takes_path=True)
def load_csv(cfg: DataConfig, path_text: str) -> Raw:
    path = _existing_file(path_text, "CSV")
    return cached_raw(("csv", file_key([path])), lambda: read_csv(path))


def read_csv(path: Path) -> Raw:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataFormatError(f"{path} is not UTF-8 text ({e})") from e
    reader = csv.reader(io.StringIO(text))
    rows: list[list[str]] = []
    lines: list[int] = []  # file line of each row, for error messages
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as e:
        raise DataFormatError(f"{path}, line {reader.line_num}: {e}") from e
    if not rows:
        raise DataFormatError(f"{path} is empty; expected a header row and data rows")
    header = [h.strip() for h in rows[0]]
    body, lines = rows[1:], lines[1:]
    _check_header(path, header)
    if not body:
        raise DataFormatError(f"{path} has a header row but no data rows")
    for row, line in zip(body, lines):
        if len(row) != len(header):
            raise DataFormatError(f"{path}, line {line}: {len(row)} values, but the header has {len(header)} columns")

    label_at = [i for i, h in enumerate(header) if h.lower() in LABEL_COLUMNS]
    if len(label_at) > 1:
        raise DataFormatError(f"{path}: more than one label column ({', '.join(LABEL_COLUMNS)})")
    cells = list(zip(*body))  # columns of strings
    features = [i for i in range(len(header)) if i not in label_at]
    if not features:
        raise DataFormatError(f"{path} has no feature columns, only a label column")
    read = [_feature(path, header[i], cells[i], lines) for i in features]
    x = np.stack([values for values, _ in read], axis=1)
    y: np.ndarray | None = None
    names: tuple[str, ...] = ()
    if label_at:
        y, names = _labels(path, header[label_at[0]], cells[label_at[0]], lines)
    return Raw(
        "tabular",
        Part(x.astype(np.float32), y),  # (N, D), NaN where missing
        num_classes=None if y is None else (len(names) or int(y.max()) + 1),
        class_names=names,
        columns=tuple(header[i] for i in features),
        standardize=True,
        categories=tuple(labels for _, labels in read),
    )


def _check_header(path: Path, header: list[str]) -> None:
    for i, name in enumerate(header):
        if not name:
            raise DataFormatError(f"{path}: column {i + 1} of the header row has no name")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise DataFormatError(f"{path}: duplicate column name(s) {dupes} in the header row")
    if all(is_number(h) for h in header):
        raise DataFormatError(f"{path}: the first row looks like data, not column names; add a header row")


def is_number(text: str) -> bool:
    """Whether ``text`` parses as a float (a data cell rather than a column name)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _feature(path: Path, name: str, values: tuple[str, ...], lines: list[int]) -> tuple[np.ndarray, tuple[str, ...]]:
    """One feature column: numbers (and no labels), or, when every present cell is text, the codes of
    its cells into the sorted labels (a categorical column; missing cells stay NaN)."""
    try:
        return _numeric(path, name, values, lines), ()
    except DataFormatError:
        texts = [v.strip() for v in values]
        present = [t for t in texts if t.lower() not in MISSING]
        if any(is_number(t) for t in present):
            raise  # numbers with a stray text cell, or an infinite value
    labels = tuple(sorted(set(present)))
    if len(labels) > MAX_LABELS:
        raise DataFormatError(
            f"{path}, column {name!r}: {len(labels)} different texts; a categorical column may have at most "
            f"{MAX_LABELS} (is it an identifier or free text? drop it)"
        )
    code = {label: float(i) for i, label in enumerate(labels)}
    return np.array([code.get(t, np.nan) for t in texts], dtype=np.float64), labels


def _numeric(path: Path, name: str, values: tuple[str, ...], lines: list[int]) -> np.ndarray:
    """One column as float64; missing -> NaN; anything else non-numeric is an error."""
    try:
        col = np.array(values, dtype=np.float64)  # fast path: every cell a number
    except ValueError:
        col = np.empty(len(values))
        for i, cell in enumerate(values):
            text = cell.strip()
            if text.lower() in MISSING:
                col[i] = np.nan
                continue
            try:
                col[i] = float(text)
            except ValueError:
                raise DataFormatError(
                    f"{path}, line {lines[i]}, column {name!r}: {cell!r} is not a number, but other cells "
                    "of the column are. A column is numbers or (a categorical column) all text; leave the "
                    "cell empty or write NA for a missing value"
                ) from None
    bad = np.flatnonzero(np.isinf(col) | (np.abs(col) > FLOAT32_MAX))  # training is float32
    if bad.size:
        raise DataFormatError(
            f"{path}, line {lines[bad[0]]}, column {name!r}: {values[bad[0]].strip()!r} is infinite or too large "
            "(beyond +-3.4e38, the float32 range); use a finite number, or leave the cell empty for a missing value"
        )
    return col


def _labels(path: Path, name: str, values: tuple[str, ...], lines: list[int]) -> tuple[np.ndarray, tuple[str, ...]]:
    texts = [v.strip() for v in values]
    for text, line in zip(texts, lines):
        if text.lower() in MISSING:
            raise DataFormatError(f"{path}, line {line}, column {name!r}: the label is missing")
    try:
        numbers = np.array(texts, dtype=np.float64)
        if np.all(numbers >= 0) and np.all(numbers == np.round(numbers)):
            return numbers.astype(np.int64), ()
    except ValueError:
        pass
    names = tuple(sorted(set(texts)))
    index = {n: i for i, n in enumerate(names)}
    return np.array([index[t] for t in texts], dtype=np.int64), names


# ---------------------------------------------------------------- npz


@register("npz", takes_path=True)
def load_npz(cfg: DataConfig, path_text: str) -> Raw:
    path = _existing_file(path_text, "npz")
    return cached_raw(("npz", file_key([path])), lambda: read_npz(path))


def read_npz(path: Path) -> Raw:
    _check_npz_file(path)
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise DataFormatError(f"{path} is a single .npy array; save with np.savez(path, x=...)")
        with loaded as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise DataFormatError(f"{path} is not a readable .npz file ({e})") from e

    keys = set(arrays)
    layout = next((lay for lay in NPZ_LAYOUTS if keys <= lay and keys & {"x", "x_train"}), None)
    if layout is None:
        raise DataFormatError(
            f"{path} holds arrays {sorted(keys)}; expected 'x' (and optional 'y'), or 'x_train', 'y_train', 'x_test', 'y_test'"
        )
    prefix = ["x", "y"] if "x" in layout else ["x_train", "y_train"]
    if "y_test" in keys and "x_test" not in keys:
        raise DataFormatError(f"{path} has 'y_test' but no 'x_test'")
    if "x_test" in keys and (("y_train" in keys) != ("y_test" in keys)):
        raise DataFormatError(f"{path}: give labels for both splits (y_train and y_test) or neither")

    kind, train_x = _npz_x(path, prefix[0], arrays[prefix[0]])
    train = Part(train_x, _npz_y(path, prefix[1], arrays.get(prefix[1]), len(train_x)))
    test = None
    if "x_test" in keys:
        test_kind, test_x = _npz_x(path, "x_test", arrays["x_test"])
        if test_kind != kind or test_x.shape[1:] != train_x.shape[1:] or (test_x.dtype != train_x.dtype):
            raise DataFormatError(
                f"{path}: x_test {arrays['x_test'].dtype} {arrays['x_test'].shape} does not "
                f"match x_train {arrays['x_train'].dtype} {arrays['x_train'].shape}"
            )
        test = Part(test_x, _npz_y(path, "y_test", arrays.get("y_test"), len(test_x)))
    labels = [p.y for p in (train, test) if p is not None and p.y is not None and len(p.y)]
    num_classes = max(int(y.max()) for y in labels) + 1 if labels else None
    return Raw(kind, train, test=test, num_classes=num_classes)


def _check_npz_file(path: Path) -> None:
    """Before numpy reads it: the file must be a zip archive (what np.savez writes) whose arrays fit
    in memory (the sizes come from the archive's directory; numpy reads no more than they say)."""
    from vaekit.resources import memory_limit

    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise DataFormatError(f"{path} could not be read: {e.strerror or e}") from None
    if magic[:4] == b"\x93NUM":
        raise DataFormatError(f"{path} is a single .npy array; save with np.savez(path, x=...)")
    if magic not in ZIP_MAGIC:
        raise DataFormatError(
            f"{path} is not an .npz file (not a zip archive of arrays); save the arrays with np.savez(path, x=...)"
        )
    try:
        with zipfile.ZipFile(path) as z:
            total = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise DataFormatError(f"{path} is not a readable .npz file ({e})") from None
    if 2 * total > memory_limit():  # the arrays, and their float32 copies
        raise DataFormatError(f"{path} holds {total / 1e9:.1f} GB of arrays, more than this machine's memory can load")


def _npz_x(path: Path, key: str, arr: np.ndarray) -> tuple[Literal["image", "tabular"], np.ndarray]:
    if arr.dtype.kind not in "biuf":
        raise DataFormatError(f"{path}: array {key!r} has dtype {arr.dtype}; expected numbers")
    if arr.ndim == 2:  # (N, D) table
        with np.errstate(over="ignore"):  # values beyond float32 become inf: reported below
            x = arr.astype(np.float32)
        if np.isinf(x).any():
            raise DataFormatError(f"{path}: array {key!r} has infinite values or values beyond the float32 range (+-3.4e38)")
        return "tabular", x
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif arr.ndim == 4 and arr.shape[1] not in (1, 3) and arr.shape[3] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)  # channels last -> (N, C, H, W)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise DataFormatError(
            f"{path}: array {key!r} has shape {arr.shape}; expected (N, D) for a table, or "
            "(N, H, W) / (N, C, H, W) with C = 1 or 3 for images"
        )
    if arr.dtype == np.uint8:
        return "image", np.ascontiguousarray(arr)
    if arr.dtype.kind == "f" or arr.dtype == np.bool_:
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range values are reported below
            x = np.ascontiguousarray(arr, dtype=np.float32)
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataFormatError(
                f"{path}: float images in {key!r} must be finite and in [0, 1]; rescale them, or store uint8 pixels (0-255)"
            )
        return "image", x
    raise DataFormatError(f"{path}: images in {key!r} are {arr.dtype}; store uint8 (0-255) or float in [0, 1]")


def _npz_y(path: Path, key: str, arr: np.ndarray | None, n: int) -> np.ndarray | None:
    if arr is None:
        return None
    if arr.ndim != 1 or len(arr) != n:
        raise DataFormatError(f"{path}: {key!r} has shape {arr.shape}; expected ({n},) labels")
    if arr.dtype.kind not in "biuf" or (arr.dtype.kind == "f" and not np.all(arr == np.round(arr))):
        raise DataFormatError(f"{path}: labels {key!r} must be whole numbers, got {arr.dtype}")
    if n and arr.min() < 0:
        raise DataFormatError(f"{path}: labels {key!r} must be >= 0, found {arr.min()}")
    return arr.astype(np.int64)
