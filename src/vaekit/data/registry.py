"""The one entry point, :func:`load_data`: resolve a source, split, filter, binarise, checksum.

A loader turns a source into a :class:`Raw` (arrays as stored, uint8 pixels or float32, plus the
official splits when the source has them). Everything after that is the same for every source
and lives here. Decoded sources are cached in-process (keyed by resolved paths, sizes and mtimes),
so loading mnist twice does not decode it twice; the returned tensors are shared, never mutated.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import torch

from vaekit.config import DataConfig
from vaekit.data.base import DataSplits, RatingsSplits, Split
from vaekit.errors import ConfigError, DataError, DataFormatError, DatasetNotFoundError

SPLITS = ("train", "validation", "test")


class Part(NamedTuple):
    """Arrays of one stored split."""

    x: np.ndarray  # (N, C, H, W) uint8 (divided by Raw.pixel_max) or float32; (N, D) float32
    y: np.ndarray | None = None  # (N,) integer labels


@dataclass(frozen=True)
class Raw:
    """A source as decoded, before splitting."""

    kind: Literal["image", "tabular"]  # image loaders guarantee pixels in [0, 1] after scaling
    train: Part  # the official train split, or everything when the source has no splits
    test: Part | None = None  # official test split; else carved from train by test_fraction
    validation: Part | None = None  # official validation split; else carved from train
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()  # tabular feature names
    categories: tuple[tuple[str, ...], ...] = ()  # csv: per feature column its text labels (codes index them); () for numbers
    standardize: bool = False  # fit a Standardizer on the train split (csv)
    pixel_max: float = 255.0  # uint8 images are divided by this
    key: Hashable | None = None  # set by cached_raw: the resolved source


Loader = Callable[[DataConfig, str], "Raw | RatingsSplits"]  # a source that splits itself returns its splits

_LOADERS: dict[str, Loader] = {}
_PATH_LOADERS: set[str] = set()
_BUILTIN_MODULES = (
    "vaekit.data.standard",
    "vaekit.data.tabular",
    "vaekit.data.images",
    "vaekit.data.olivetti",
    "vaekit.data.ratings",
)

_RAW_CACHE: OrderedDict[Hashable, Raw] = OrderedDict()
_SPLITS_CACHE: OrderedDict[Hashable, DataSplits] = OrderedDict()
_RAW_CACHE_SIZE = 4  # decoded sources (a uint8 MNIST is tens of MB)
_SPLITS_CACHE_SIZE = 2  # float32 splits are 4x their uint8 source


def register(name: str, *, takes_path: bool = False) -> Callable[[Loader], Loader]:
    """Register a loader ``(cfg, path) -> Raw`` as source `name` (or ``name:PATH``)."""

    def decorate(loader: Loader) -> Loader:
        _LOADERS[name] = loader
        if takes_path:
            _PATH_LOADERS.add(name)
        return loader

    return decorate


def available_sources() -> list[str]:
    """Valid ``data.source`` values, e.g. ``["binarized-mnist", ..., "csv:PATH", ...]``."""
    _import_builtins()
    return sorted(f"{n}:PATH" if n in _PATH_LOADERS else n for n in _LOADERS)


def cached_raw(key: Hashable, build: Callable[[], Raw]) -> Raw:
    """Return the cached source for `key`, or build, tag and cache it."""
    if key in _RAW_CACHE:
        _RAW_CACHE.move_to_end(key)
        return _RAW_CACHE[key]
    raw = dataclasses.replace(build(), key=key)
    _put(_RAW_CACHE, key, raw, _RAW_CACHE_SIZE)
    return raw


def clear_cache() -> None:
    _RAW_CACHE.clear()
    _SPLITS_CACHE.clear()


def file_key(paths: Iterable[Path]) -> tuple[tuple[str, int, int], ...]:
    """(resolved path, size, mtime) of each file: a cache key that notices replaced files."""
    out = []
    for p in paths:
        st = p.stat()
        out.append((str(p.resolve()), st.st_size, st.st_mtime_ns))
    return tuple(out)


def load_data(cfg: DataConfig) -> DataSplits | RatingsSplits:
    """Load `cfg.source` as train/validation/test float32 tensors (see DataSplits), or for
    ``ratings:PATH`` as sparse clicks split by users (RatingsSplits)."""
    _check(cfg)
    name, arg = _resolve(cfg.source)
    raw = _LOADERS[name](cfg, arg)
    if isinstance(raw, RatingsSplits):  # held sparse and split by users: none of the pipeline below applies
        return raw
    key = None
    if raw.key is not None:
        carved_test = cfg.test_fraction if raw.test is None else None
        static = cfg.binarize == "static"  # "dynamic" happens per batch: same tensors as "none"
        types = None if cfg.column_types is None else tuple(sorted(cfg.column_types.items()))
        key = (raw.key, cfg.source, cfg.seed, cfg.validation_fraction, carved_test, static, cfg.classes, cfg.limit, types)
        if key in _SPLITS_CACHE:
            _SPLITS_CACHE.move_to_end(key)
            return _SPLITS_CACHE[key]
    splits = _build(cfg, raw)
    if key is not None:
        _put(_SPLITS_CACHE, key, splits, _SPLITS_CACHE_SIZE)
    return splits


# ---------------------------------------------------------------- the generic pipeline


def _build(cfg: DataConfig, raw: Raw) -> DataSplits:
    if cfg.binarize != "none" and raw.kind != "image":
        raise ConfigError(
            f"data.binarize = {cfg.binarize!r} needs images in [0, 1]; {cfg.source} is a table: set data.binarize = 'none'"
        )
    splits = {s: _gather(part, idx, raw) for s, (part, idx) in select_rows(cfg, raw).items()}

    scaler = None
    if raw.standardize:
        from vaekit.data.columns import fit_table_scaler, scale_table

        scaler = fit_table_scaler(splits["train"].x, raw.columns, raw.categories, cfg.column_types)
        splits = {s: Split(scale_table(scaler, v.x, raw.categories), v.y) for s, v in splits.items()}

    for name, v in splits.items():  # NaN marks a missing cell; an infinity is never data (images are checked by their loaders)
        if raw.kind == "tabular" and bool(torch.isinf(v.x).any()):
            raise DataFormatError(
                f"{cfg.source}: the {name} split holds values that are infinite in float32 (after standardising); "
                "rescale the data so every value stays well within +-3.4e38"
            )

    if cfg.binarize == "static":
        # sampled once, fixed by the data seed; one generator per split so that limit/classes on
        # train leave the validation and test samples unchanged
        splits = {s: Split(torch.bernoulli(v.x, generator=_split_generator(cfg.seed, s)), v.y) for s, v in splits.items()}

    train = splits["train"]
    return DataSplits(
        name=cfg.source,
        kind=raw.kind,
        shape=tuple(train.x.shape[1:]),
        train=train,
        validation=splits["validation"],
        test=splits["test"],
        checksum=checksum(splits),
        scaler=scaler,
        num_classes=raw.num_classes,
        class_names=raw.class_names,
    )


def select_rows(cfg: DataConfig, raw: Raw) -> dict[str, tuple[Part, np.ndarray]]:
    """Per split, the stored part and the row indices into it, after splitting and filtering.
    Streaming sources use it with row numbers in place of pixels, so they pick the same rows."""
    return _filter(cfg, raw, _split_indices(cfg, raw))


def _split_indices(cfg: DataConfig, raw: Raw) -> dict[str, tuple[Part, np.ndarray]]:
    """Index arrays into the stored parts. Carved splits come from one permutation by seed;
    validation_fraction is a fraction of what remains for training after the test split."""
    rng = np.random.default_rng(cfg.seed)
    n = len(raw.train.x)
    if raw.test is None:
        perm = rng.permutation(n)
        n_test = round(n * cfg.test_fraction)
        test = (raw.train, perm[:n_test])
        rest = perm[n_test:]
    else:
        test = (raw.test, np.arange(len(raw.test.x)))
        rest = np.arange(n) if raw.validation is not None else rng.permutation(n)
    if raw.validation is None:
        n_val = round(len(rest) * cfg.validation_fraction)
        validation = (raw.train, rest[:n_val])
        rest = rest[n_val:]
    else:
        validation = (raw.validation, np.arange(len(raw.validation.x)))
    return {"train": (raw.train, rest), "validation": validation, "test": test}


def _filter(cfg: DataConfig, raw: Raw, chosen: dict[str, tuple[Part, np.ndarray]]) -> dict[str, tuple[Part, np.ndarray]]:
    """Apply data.classes to every split (after splitting, so splits do not move), then limit."""
    if cfg.classes is not None:
        labels = [part.y for part, _ in chosen.values()]
        if any(y is None for y in labels):
            raise DataError(f"{cfg.source} has no labels, so data.classes cannot pick classes")
        present = set(np.unique(np.concatenate([y for y in labels if y is not None])).tolist())
        missing = sorted(set(cfg.classes) - present)
        if missing:
            raise DataError(f"data.classes: label(s) {missing} do not occur in {cfg.source}; its labels are {sorted(present)}")
        wanted = np.asarray(cfg.classes)
        chosen = {
            s: (part, idx[np.isin(part.y[idx], wanted)]) if part.y is not None else (part, idx)
            for s, (part, idx) in chosen.items()
        }
    part, idx = chosen["train"]
    if cfg.limit is not None:
        chosen["train"] = (part, idx[: cfg.limit])
    if len(chosen["train"][1]) == 0:
        raise DataError(
            f"{cfg.source}: the training split is empty after splitting and filtering; "
            "lower data.validation_fraction / data.test_fraction or check data.classes"
        )
    return chosen


def _gather(part: Part, idx: np.ndarray, raw: Raw) -> Split:
    x = torch.from_numpy(part.x[idx])  # fancy indexing copies: writable, contiguous
    if x.dtype == torch.uint8 and raw.kind == "image":
        x = x.to(torch.float32).div_(raw.pixel_max)
    else:
        x = x.to(torch.float32)
    y = None if part.y is None else torch.from_numpy(part.y[idx].astype(np.int64))
    return Split(x, y)


def checksum(splits: dict[str, Split]) -> str:
    """sha256 over every split's x and y: dtype, shape and bytes."""
    h = hashlib.sha256()
    for s in SPLITS:
        for label, t in (("x", splits[s].x), ("y", splits[s].y)):
            if t is None:
                h.update(f"{s}.{label}:none;".encode())
                continue
            a = t.detach().cpu().contiguous().numpy()
            h.update(f"{s}.{label}:{a.dtype}:{a.shape};".encode())
            h.update(a.reshape(-1).view(np.uint8).data)  # .data: the array's memoryview, no copy
    return h.hexdigest()


# ---------------------------------------------------------------- helpers


def _import_builtins() -> None:
    for module in _BUILTIN_MODULES:  # they register themselves; imported on first use only
        importlib.import_module(module)


def _resolve(source: str) -> tuple[str, str]:
    _import_builtins()
    prefix, sep, rest = source.partition(":")
    if sep and prefix.lower() in _PATH_LOADERS:
        if not rest.strip():
            raise DatasetNotFoundError(f"data.source {source!r}: give a path after '{prefix}:'")
        return prefix.lower(), os.path.expanduser(rest.strip())
    name = source.strip().lower()
    if name in _LOADERS and name not in _PATH_LOADERS:
        return name, ""
    hint = ""
    suffix = Path(source).suffix.lower()
    if os.path.isdir(source) or (os.path.isfile(source) and suffix in (".csv", ".npz")):
        kind = "folder" if os.path.isdir(source) else suffix[1:]
        hint = f" (that is a path: did you mean '{kind}:{source}'?)"
    raise DatasetNotFoundError(f"unknown data source {source!r}{hint}; valid sources are: " + ", ".join(available_sources()))


def _check(cfg: DataConfig) -> None:
    for key in ("validation_fraction", "test_fraction"):
        value = getattr(cfg, key)
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"data.{key} must be in [0, 1), got {value}")
    if cfg.limit is not None and cfg.limit < 1:
        raise ConfigError(f"data.limit must be at least 1 (or unset), got {cfg.limit}")
    if cfg.classes is not None and not cfg.classes:
        raise ConfigError("data.classes is empty: list the labels to keep, or leave it unset")


def _split_generator(seed: int, split: str) -> torch.Generator:
    state = np.random.SeedSequence([seed, SPLITS.index(split)]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def _put(cache: OrderedDict, key: Hashable, value: object, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)
