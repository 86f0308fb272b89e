"""``ratings:PATH``: implicit feedback from a ratings file, held sparse and split by users.

Layouts: MovieLens ``u.data`` (tab: user item rating timestamp), ``ratings.csv`` (header
userId,movieId,rating,timestamp), ``ratings.dat`` (user::item::rating::timestamp), and any CSV/TSV
of user,item[,rating[,timestamp, ...]] with or without a header. Ratings at or above
``data.min_rating`` become clicks (a file of two columns is all clicks); users with fewer than
``data.min_user_items`` clicks are dropped. The protocol is Liang et al.'s strong generalisation:
test and validation users are held out of training whole; the items are those the training users
clicked; each held-out user's clicks are split at random into a part folded in (shown to the
encoder) and a part scored (``data.heldout_fraction``). Item titles come from ``u.item``,
``movies.dat`` or ``movies.csv`` beside the file, when one is there. When PATH does not exist,
the file of the same name in ``data.data_dir`` (``--data-dir``) is read instead.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vaekit.config import DataConfig
from vaekit.data.base import ClickSplit, RatingsSplits
from vaekit.data.registry import file_key, register
from vaekit.data.tabular import is_number
from vaekit.errors import ConfigError, DataError, DatasetNotFoundError

CHUNK_LINES = 1_000_000  # lines parsed per numpy call: bounded memory on ML-20M-sized files
_CACHE: OrderedDict[Any, RatingsSplits] = OrderedDict()
_CACHE_SIZE = 2


@dataclass(frozen=True)
class Ratings:
    """The rows of a ratings file as read: ids as stored (int64, or str when not all integers)."""

    users: np.ndarray  # (n,)
    items: np.ndarray  # (n,)
    ratings: np.ndarray | None  # (n,) float64, or None for a file of clicks (user, item)


def sparse():
    """scipy.sparse, or a clear error naming the extra that brings it."""
    try:
        import scipy.sparse
    except ModuleNotFoundError:
        raise DataError("ratings:PATH sources need scipy: pip install 'vaekit[recsys]'") from None
    return scipy.sparse


# ---------------------------------------------------------------- reading a file


def read_ratings(path: str | Path) -> Ratings:
    """Every row of ``path``; a line that does not fit the layout is a DataError naming it."""
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(
            f"ratings file {path} does not exist; give ratings:PATH of a u.data/ratings.csv/ratings.dat file"
        )
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        first = f.readline()
    if not first.strip():
        raise DataError(f"{path} is empty (or starts with a blank line); expected columns user, item[, rating[, timestamp]]")
    sep, header = _layout(first)
    fields = len(_split_line(first, sep))
    if fields < 2:
        raise DataError(f"{path}: expected columns user, item[, rating[, timestamp]], found one column on line 1")
    has_rating = fields >= 3
    try:
        users, items, ratings = _read_numeric(path, sep, header, has_rating)
    except ValueError:  # ids that are not integers, or a malformed line: the slow path names the line
        users, items, ratings = _read_text(path, sep, header, has_rating)
    if len(users) == 0:
        raise DataError(f"{path} holds no ratings (an empty file, or a header alone)")
    return Ratings(users, items, ratings)


def _layout(line: str) -> tuple[str | None, bool]:
    """(separator, has a header) from the first line: '::', tab, comma, or whitespace (None)."""
    line = line.strip()
    sep = "::" if "::" in line else "\t" if "\t" in line else "," if "," in line else None
    parts = [p.strip().strip('"').lower() for p in _split_line(line, sep)]
    rating_not_number = len(parts) >= 3 and not is_number(parts[2])
    return sep, bool(parts) and ("user" in parts[0] or rating_not_number)


def _split_line(line: str, sep: str | None) -> list[str]:
    return line.strip().split(sep)


def _read_numeric(
    path: Path, sep: str | None, header: bool, has_rating: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The fast path: integer ids, numeric ratings, parsed by numpy a chunk of lines at a time."""
    names = [("u", "i8"), ("i", "i8")] + ([("r", "f8")] if has_rating else [])
    cols = (0, 1, 2) if has_rating else (0, 1)
    delimiter = "\t" if sep in ("::", "\t") else sep
    parts = []
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        if header:
            f.readline()
        while chunk := list(itertools.islice(f, CHUNK_LINES)):
            text = "".join(chunk)
            if sep == "::":
                text = text.replace("::", "\t")
            if text.strip():
                parts.append(np.loadtxt(io.StringIO(text), delimiter=delimiter, usecols=cols, dtype=names, ndmin=1))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), None
    rows = np.concatenate(parts)
    return rows["u"], rows["i"], rows["r"] if has_rating else None


def _read_text(path: Path, sep: str | None, header: bool, has_rating: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Ids kept as strings; each line checked, so an error names its line number."""
    users: list[str] = []
    items: list[str] = []
    ratings: list[float] = []
    need = 3 if has_rating else 2
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as f:
        lines = csv.reader(f) if sep == "," else (_split_line(line, sep) for line in f)
        for number, parts in enumerate(lines, start=1):
            if number == 1 and header or not any(p.strip() for p in parts):
                continue
            if len(parts) < need:
                raise DataError(
                    f"{path}, line {number}: expected {need} or more columns (user, item{', rating' if has_rating else ''}), got {len(parts)}"
                )
            users.append(parts[0].strip())
            items.append(parts[1].strip())
            if has_rating:
                try:
                    ratings.append(float(parts[2]))
                except ValueError:
                    raise DataError(f"{path}, line {number}: rating {parts[2].strip()!r} is not a number") from None
    return np.asarray(users), np.asarray(items), np.asarray(ratings, np.float64) if has_rating else None


def read_titles(folder: Path) -> dict[str, str]:
    """Item id -> title from MovieLens' u.item, movies.dat or movies.csv in ``folder`` (else {})."""
    try:
        if (folder / "u.item").is_file():  # id|title|date|... in latin-1
            lines = (folder / "u.item").read_text(encoding="latin-1").splitlines()
            return {p[0]: p[1] for p in (line.split("|") for line in lines) if len(p) > 1}
        if (folder / "movies.dat").is_file():  # id::title::genres
            lines = (folder / "movies.dat").read_text(encoding="latin-1").splitlines()
            return {p[0]: p[1] for p in (line.split("::") for line in lines) if len(p) > 1}
        if (folder / "movies.csv").is_file():  # movieId,title,genres with a header
            with open(folder / "movies.csv", encoding="utf-8", newline="") as f:
                rows = list(csv.reader(f))[1:]
            return {r[0]: r[1] for r in rows if len(r) > 1}
    except OSError:
        return {}  # titles are a nicety: an unreadable file leaves item ids alone
    return {}


# ---------------------------------------------------------------- clicks and the split


def click_matrix(r: Ratings, min_rating: float) -> tuple[np.ndarray, np.ndarray, Any]:
    """(user ids, item ids, CSR (U, I) of 0/1 clicks): ratings >= min_rating, repeats counted once."""
    sp = sparse()
    keep = np.ones(len(r.users), bool) if r.ratings is None else r.ratings >= min_rating
    user_ids, u = np.unique(r.users[keep], return_inverse=True)
    item_ids, i = np.unique(r.items[keep], return_inverse=True)
    m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(len(user_ids), len(item_ids)))
    m.sum_duplicates()
    m.data[:] = 1.0  # a user who rated an item twice clicked it once
    return np.asarray([str(v) for v in user_ids.tolist()]), np.asarray([str(v) for v in item_ids.tolist()]), m


def heldout_counts(cfg: DataConfig, n_users: int) -> tuple[int, int]:
    """(validation users, test users) among ``n_users``; each at least one, training keeps one."""
    if cfg.heldout_users is not None:
        n_val = n_test = cfg.heldout_users
        if cfg.heldout_users < 1:
            raise ConfigError(f"data.heldout_users must be at least 1 (or unset), got {cfg.heldout_users}")
    else:
        n_test = round(n_users * cfg.test_fraction)
        n_val = round((n_users - n_test) * cfg.validation_fraction)
    if n_val < 1 or n_test < 1 or n_val + n_test >= n_users:
        raise DataError(
            f"{cfg.source}: {n_users} users have enough clicks, which cannot give {n_val} validation, {n_test} test "
            "and at least one training user; set data.heldout_users (or the fractions) to fit"
        )
    return n_val, n_test


def split_clicks(m: Any, fraction: float, rng: np.random.Generator) -> tuple[Any, Any, np.ndarray]:
    """Each row's clicks cut at random into (fold-in, held-out): int(fraction * n) held out, as Liang
    et al. Rows left with nothing to score or nothing to fold in are dropped; returns the kept rows too."""
    sp = sparse()
    held = np.zeros(m.nnz, bool)
    for row in range(m.shape[0]):
        start, stop = m.indptr[row], m.indptr[row + 1]
        n_held = int(fraction * (stop - start))
        held[start + rng.choice(stop - start, n_held, replace=False)] = True
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    fold = sp.csr_matrix((m.data[~held], (rows[~held], m.indices[~held])), shape=m.shape)
    out = sp.csr_matrix((m.data[held], (rows[held], m.indices[held])), shape=m.shape)
    keep = np.flatnonzero((np.diff(fold.indptr) > 0) & (np.diff(out.indptr) > 0))
    return fold[keep], out[keep], keep


def _check(cfg: DataConfig) -> None:
    if cfg.min_user_items < 1:
        raise ConfigError(f"data.min_user_items must be at least 1, got {cfg.min_user_items}")
    if not 0.0 < cfg.heldout_fraction < 1.0:
        raise ConfigError(f"data.heldout_fraction must be in (0, 1), got {cfg.heldout_fraction}")
    if cfg.binarize != "none" or cfg.classes is not None:
        raise ConfigError(f"{cfg.source} is already binary clicks without labels: leave data.binarize and data.classes unset")


def build_splits(cfg: DataConfig, path: Path, r: Ratings) -> RatingsSplits:
    """The strong-generalisation splits of the rows ``r`` of ``path`` (see the module docstring)."""
    user_ids, item_ids, m = click_matrix(r, cfg.min_rating)
    active = np.flatnonzero(np.diff(m.indptr) >= cfg.min_user_items)
    if len(active) == 0:
        raise DataError(
            f"{path}: no user has {cfg.min_user_items} or more ratings at or above {cfg.min_rating:g}; "
            "lower data.min_rating or data.min_user_items"
        )
    n_val, n_test = heldout_counts(cfg, len(active))
    seeds = np.random.SeedSequence(cfg.seed).spawn(3)  # users; validation clicks; test clicks
    order = active[np.random.default_rng(seeds[0]).permutation(len(active))]
    test_u, val_u = np.sort(order[:n_test]), np.sort(order[n_test : n_test + n_val])
    train_u = np.sort(order[n_test + n_val :][: cfg.limit])
    train = m[train_u]
    columns = np.flatnonzero(np.diff(train.tocsc().indptr) > 0)  # the items training users clicked
    train = train[:, columns]
    items = tuple(item_ids[columns].tolist())
    splits = {"train": ClickSplit(train, tuple(user_ids[train_u].tolist()))}
    for name, users, seed in (("validation", val_u, seeds[1]), ("test", test_u, seeds[2])):
        fold, held, kept = split_clicks(m[users][:, columns], cfg.heldout_fraction, np.random.default_rng(seed))
        if len(kept) == 0:
            raise DataError(f"{path}: no {name} user has clicks both to fold in and to score; raise data.min_user_items")
        splits[name] = ClickSplit(fold, tuple(user_ids[users[kept]].tolist()), held)
    return RatingsSplits(
        name=cfg.source,
        shape=(len(items),),
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        items=items,
        titles=read_titles(path.parent),
        checksum=_checksum(splits, items),
    )


def _checksum(splits: dict[str, ClickSplit], items: tuple[str, ...]) -> str:
    h = hashlib.sha256("\n".join(items).encode())
    for name, s in splits.items():
        for label, m in (("x", s.x), ("heldout", s.heldout)):
            h.update(f"{name}.{label}:{None if m is None else m.shape};".encode())
            if m is not None:
                h.update(m.indptr.astype(np.int64).tobytes())
                h.update(m.indices.astype(np.int64).tobytes())
    return h.hexdigest()


@register("ratings", takes_path=True)
def load_ratings(cfg: DataConfig, path_text: str) -> RatingsSplits:
    """The registry's loader: ``ratings:PATH`` as RatingsSplits (cached by file, size, mtime and settings)."""
    _check(cfg)
    path = Path(path_text)
    if not path.is_file() and cfg.data_dir is not None and (Path(cfg.data_dir) / path.name).is_file():
        path = Path(cfg.data_dir) / path.name  # --data-dir: the folder the file lives in now
    if not path.is_file():
        raise DatasetNotFoundError(
            f"ratings file {path} does not exist; give ratings:PATH of a u.data/ratings.csv/ratings.dat file"
        )
    settings = (cfg.source, cfg.seed, cfg.min_rating, cfg.min_user_items, cfg.heldout_users, cfg.heldout_fraction,
                cfg.validation_fraction, cfg.test_fraction, cfg.limit)  # fmt: skip
    key = (file_key([path]), settings)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    splits = build_splits(cfg, path, read_ratings(path))
    _CACHE[key] = splits
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return splits


def fold_in_matrix(r: Ratings, min_rating: float, items: tuple[str, ...]) -> tuple[list[str], Any, list[str]]:
    """New users' clicks over a run's ``items``: (user ids, CSR (U, I), item ids the run never saw)."""
    user_ids, item_ids, m = click_matrix(r, min_rating)
    column = {item: j for j, item in enumerate(items)}
    known = np.asarray([i in column for i in item_ids.tolist()], bool)
    unknown = item_ids[~known].tolist()
    sp = sparse()
    remap = sp.csr_matrix(
        (np.ones(int(known.sum()), np.float32), (np.flatnonzero(known), [column[i] for i in item_ids[known].tolist()])),
        shape=(len(item_ids), len(items)),
    )
    return user_ids.tolist(), (m @ remap).tocsr(), unknown
