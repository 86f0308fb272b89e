"""What every data source yields: float tensors split into train/validation/test (ratings: sparse clicks)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch


@dataclass(frozen=True)
class Split:
    """One split. ``x`` is (N, C, H, W) float32 in [0, 1] for images, (N, D) float32 for tables."""

    x: torch.Tensor
    y: torch.Tensor | None = None  # (N,) int64 labels, when the source has them

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Standardizer:
    """Per-column affine scaling of tabular data, fitted on the training split only.

    ``low``/``high`` are each column's smallest and largest observed training value in original
    units (None: nothing observed) and ``integer`` says whether every observed value was whole;
    restored cells are held to them (:meth:`restrict`). Scalers saved before these existed have
    them empty, and then nothing is restricted.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    columns: tuple[str, ...] = ()
    low: tuple[float | None, ...] = ()
    high: tuple[float | None, ...] = ()
    integer: tuple[bool, ...] = ()

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return (x - torch.tensor(self.mean, dtype=x.dtype)) / torch.tensor(self.std, dtype=x.dtype)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tensor(self.std, dtype=x.dtype) + torch.tensor(self.mean, dtype=x.dtype)

    @property
    def has_range(self) -> bool:
        return len(self.low) == len(self.mean) > 0

    def bounds(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        """Each column's observed training range in standardised units: (D,), (D,). A column with no
        observed training value gets [0, 0] (the encoder only ever saw 0 there: missing cells are
        fed as 0); a scaler saved without ranges gives (-inf, +inf)."""
        d = len(self.mean)
        if not self.has_range:
            return torch.full((d,), -torch.inf, dtype=dtype), torch.full((d,), torch.inf, dtype=dtype)
        lo, hi = self._range()
        mean, std = torch.tensor(self.mean, dtype=torch.float64), torch.tensor(self.std, dtype=torch.float64)
        lo, hi = (lo - mean) / std, (hi - mean) / std
        return lo.nan_to_num(0.0).to(dtype), hi.nan_to_num(0.0).to(dtype)

    def restrict(self, v: torch.Tensor) -> torch.Tensor:
        """Values in original units (..., D) held to each column's observed training range and
        rounded to whole numbers in integer columns (float64). A column with no observed training
        value has no range to hold it to and the model learnt nothing about it: NaN there (the
        cell stays missing). Unchanged when the scaler has no ranges (saved by an older vaekit)."""
        if not self.has_range:
            return v.double()
        lo, hi = self._range()
        v = torch.maximum(torch.minimum(v.double(), hi), lo)  # NaN bounds (unseen columns) make NaN
        return torch.where(torch.tensor(self.integer), v.round(), v)

    def unseen(self) -> torch.Tensor:
        """(D,) bool: columns with no observed training value (all False without ranges)."""
        return torch.tensor([v is None for v in self.low] if self.has_range else [False] * len(self.mean))

    def _range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high), each (D,) float64 in original units; NaN for columns with nothing observed."""
        lo = torch.tensor([torch.nan if v is None else v for v in self.low], dtype=torch.float64)
        hi = torch.tensor([torch.nan if v is None else v for v in self.high], dtype=torch.float64)
        return lo, hi

    def to_dict(self) -> dict:
        d = {"mean": list(self.mean), "std": list(self.std), "columns": list(self.columns)}
        if self.has_range:
            d.update(low=list(self.low), high=list(self.high), integer=list(self.integer))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        """A plain standardiser; ``data.columns.load_scaler`` reads either kind of scaler.json."""
        return cls(
            tuple(d["mean"]),
            tuple(d["std"]),
            tuple(d.get("columns", ())),
            tuple(d.get("low", ())),
            tuple(d.get("high", ())),
            tuple(bool(b) for b in d.get("integer", ())),
        )


@dataclass(frozen=True)
class DataSplits:
    name: str  # the source string, e.g. "mnist" or "folder:/data/faces"
    kind: Literal["image", "tabular"]
    shape: tuple[int, ...]  # per-example shape: (C, H, W) or (D,)
    train: Split
    validation: Split
    test: Split
    checksum: str = ""  # sha256 over the split tensors: ties evaluation numbers to exact data
    scaler: Standardizer | None = None  # tabular sources only
    num_classes: int | None = None
    class_names: tuple[str, ...] = field(default=())

    def split(self, name: str) -> Split:
        from vaekit.errors import DataError

        if name not in ("train", "validation", "test"):
            raise DataError(f"unknown split {name!r}: use train, validation or test")
        return getattr(self, name)


def fit_standardizer(x: torch.Tensor, columns: tuple[str, ...] = ()) -> Standardizer:
    """Per-column mean/std of x (N, D), ignoring NaN (missing) cells. A column with no spread
    (or no values) gets std 1, so it is only centred. Also each column's observed range and
    whether its values are whole numbers (what restored cells are held to)."""
    a = x.numpy().astype(np.float64)
    with warnings.catch_warnings():  # all-NaN columns warn; they are handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=0)
        std = np.nanstd(a, axis=0)
        low, high = np.nanmin(a, axis=0), np.nanmax(a, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    flat = ~np.isfinite(std) | (std <= 1e-8 * np.maximum(1.0, np.abs(mean)))
    std = np.where(flat, 1.0, std)
    seen = np.isfinite(low)  # columns with at least one observed value
    whole = np.all(np.isnan(a) | (a == np.round(a)), axis=0) & seen  # every observed value an integer
    return Standardizer(
        tuple(mean.tolist()),
        tuple(std.tolist()),
        tuple(columns),
        low=tuple(float(v) if s else None for v, s in zip(low.tolist(), seen)),
        high=tuple(float(v) if s else None for v, s in zip(high.tolist(), seen)),
        integer=tuple(bool(w) for w in whole),
    )


@dataclass(frozen=True)
class ClickSplit:
    """Users' clicks held sparse: ``x`` is a scipy.sparse CSR matrix (N, I) of 0/1 float32, never made
    dense as a whole. For held-out users (strong generalisation) ``x`` holds the clicks folded in and
    ``heldout`` (N, I) the clicks hidden from the model and scored; training users have no ``heldout``."""

    x: Any  # scipy.sparse.csr_matrix (N, I)
    users: tuple[str, ...]  # the N users' ids, as in the ratings file
    heldout: Any = None  # scipy.sparse.csr_matrix (N, I) or None
    y: None = None  # no labels: the same attribute as Split's, for code that asks

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def full(self) -> Any:
        """All the clicks known of these users, (N, I) CSR: folded in and held out together."""
        return self.x if self.heldout is None else (self.x + self.heldout).tocsr()


@dataclass(frozen=True)
class RatingsSplits:
    """A ``ratings:PATH`` source: training users, and validation and test users held out whole, their
    clicks split into a fold-in and a scored part. Items are the columns, in ``items`` order."""

    name: str
    shape: tuple[int]  # (I,)
    train: ClickSplit
    validation: ClickSplit
    test: ClickSplit
    items: tuple[str, ...]  # item id of each column
    titles: dict[str, str] = field(default_factory=dict)  # item id -> title, when the source has them
    checksum: str = ""  # sha256 over every split's sparse arrays and the item ids
    kind: Literal["ratings"] = "ratings"
    scaler: None = None
    num_classes: None = None
    class_names: tuple[str, ...] = ()

    def split(self, name: str) -> ClickSplit:
        from vaekit.errors import DataError

        if name not in ("train", "validation", "test"):
            raise DataError(f"unknown split {name!r}: use train, validation or test")
        return getattr(self, name)

    def id_maps(self) -> dict[str, Any]:
        """What a run directory keeps (items.json): column -> item id, titles, users of each split."""
        return {
            "items": list(self.items),
            "titles": {i: self.titles[i] for i in self.items if i in self.titles},
            "users": {s: list(self.split(s).users) for s in ("train", "validation", "test")},
        }
