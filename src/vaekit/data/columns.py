"""Typed table columns: each csv column's kind, found on the training split, and the scaler that
turns values into what the model sees and back.

Kinds: ``binary`` (values in {0, 1}), ``categorical`` (text, or integer codes with at most
``MAX_CODES`` distinct values), ``count`` (other non-negative integers), ``numeric`` (anything else).
``data.column_types`` names the kind of some columns and the rest are detected; ``None`` keeps the
plain layout (every column numeric and standardised). Only numeric columns are standardised; counts
and binary values pass through; categorical values become codes 0..K-1 (K = the values or labels seen
in the training split; a value first seen in another split counts as missing). The
:class:`ColumnScaler` holds all of it and is saved with the run as ``scaler.json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from vaekit.data.base import Standardizer, fit_standardizer
from vaekit.errors import ConfigError, DataError

KINDS = ("numeric", "count", "binary", "categorical")
MAX_CODES = 5  # integer columns with at most this many distinct values are read as category codes
MAX_LEVELS = 1000  # distinct values a categorical column may hold

Labels = Sequence[Sequence[str]]  # per column, the text labels a source's codes index (() for numbers)
Unknown = Literal["missing", "error"]


def detect_kind(values: np.ndarray, text: bool) -> str:
    """The kind of one column from its training values (NaN = missing); ``text``: read from text cells."""
    if text:
        return "categorical"
    v = values[np.isfinite(values)]
    if v.size == 0 or not np.all(v == np.round(v)):
        return "numeric"
    distinct = np.unique(v)
    if np.isin(distinct, (0.0, 1.0)).all():
        return "binary"
    if distinct.size <= MAX_CODES:
        return "categorical"
    return "count" if distinct[0] >= 0 else "numeric"


@dataclass(frozen=True)
class ColumnScaler(Standardizer):
    """A Standardizer (mean 0 and std 1 for every column that is not numeric) that also turns
    categorical values into codes: ``levels`` (numbers) or ``categories`` (text labels) per column."""

    kinds: tuple[str, ...] = ()
    levels: tuple[tuple[float, ...], ...] = ()  # categorical number columns: the value of each code
    categories: tuple[tuple[str, ...], ...] = ()  # categorical text columns: the label of each code

    def classes(self) -> tuple[int, ...]:
        """K per column (at least 2 for a categorical column, 0 for the others)."""
        return tuple(
            max(2, len(lv) or len(ct)) if k == "categorical" else 0 for k, lv, ct in zip(self.kinds, self.levels, self.categories)
        )

    def transform(self, x: torch.Tensor, labels: Labels | None = None, unknown: Unknown = "missing") -> torch.Tensor:
        """Values (N, D) -> model units: codes for categorical columns (text columns read through the
        source's ``labels``; None: already this scaler's codes), standardised numeric columns."""
        return super().transform(self.encode(x, labels, unknown))

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        """Model units -> values; a categorical number column's code becomes its value (nearest code),
        a text column keeps its code (``categories`` names it)."""
        out = super().inverse(x)
        for j, lv in enumerate(self.levels):
            if lv:
                table = torch.tensor(lv, dtype=out.dtype)
                code = out[..., j].round().clamp(0, len(lv) - 1)
                out[..., j] = torch.where(torch.isnan(code), code, table[code.nan_to_num(0).long()])
        return out

    def encode(self, x: torch.Tensor, labels: Labels | None = None, unknown: Unknown = "missing") -> torch.Tensor:
        out = x.clone()
        for j, kind in enumerate(self.kinds):
            if kind != "categorical":
                continue
            if self.categories[j]:  # text: source code -> label -> this scaler's code
                if labels is None or not labels[j]:
                    continue
                known = {label: i for i, label in enumerate(self.categories[j])}
                table = [float(known.get(label, np.nan)) for label in labels[j]]
                out[:, j] = self._lookup(x[:, j], torch.tensor(table, dtype=x.dtype), j, unknown, labels[j])
            else:
                values = torch.tensor(self.levels[j], dtype=torch.float64)
                col = x[:, j].double()
                at = torch.searchsorted(values, col.nan_to_num(0)).clamp(max=len(values) - 1)
                hit = values[at] == col
                self._check_unknown(col, ~hit & ~torch.isnan(col), j, unknown)
                out[:, j] = torch.where(hit, at.to(x.dtype), torch.full_like(x[:, j], float("nan")))
        return out

    def _lookup(self, codes: torch.Tensor, table: torch.Tensor, j: int, unknown: Unknown, labels: Sequence[str]) -> torch.Tensor:
        present = ~torch.isnan(codes)
        new = torch.full_like(codes, float("nan"))
        new[present] = table[codes[present].long()]
        if unknown == "error" and bool((present & torch.isnan(new)).any()):
            label = labels[int(codes[present & torch.isnan(new)][0])]
            raise DataError(
                f"column {self._name(j)!r} has the category {label!r}, which the model never saw; it knows "
                f"{', '.join(self.categories[j])}. Leave the cell empty (missing) or use a known category"
            )
        return new

    def _check_unknown(self, col: torch.Tensor, bad: torch.Tensor, j: int, unknown: Unknown) -> None:
        if unknown == "error" and bool(bad.any()):
            raise DataError(
                f"column {self._name(j)!r} has the value {float(col[bad][0]):g}, which the model never saw; it knows "
                f"{', '.join(f'{v:g}' for v in self.levels[j])}. Leave the cell empty (missing) or use a known value"
            )

    def _name(self, j: int) -> str:
        return self.columns[j] if self.columns else f"x{j}"

    def cell_text(self, j: int, value: float) -> str:
        """A value of column j (original units, from ``inverse``) as a csv cell of its kind: a label, a
        whole number (binary and count columns, rounded), or a number."""
        if value != value:  # NaN
            return ""
        kind = self.kinds[j]
        if kind == "categorical" and self.categories[j]:
            return self.categories[j][min(max(round(value), 0), len(self.categories[j]) - 1)]
        if kind in ("count", "binary"):
            return str(max(0, round(value)) if kind == "count" else int(value >= 0.5))
        return f"{value:.7g}"

    def to_dict(self) -> dict:
        return {
            **super().to_dict(),
            "kinds": list(self.kinds),
            "levels": [list(v) for v in self.levels],
            "categories": [list(c) for c in self.categories],
        }

    @classmethod
    def from_dict(cls, d: dict) -> ColumnScaler:
        plain = Standardizer.from_dict(d)
        return cls(
            plain.mean,
            plain.std,
            plain.columns,
            plain.low,
            plain.high,
            plain.integer,
            kinds=tuple(d["kinds"]),
            levels=tuple(tuple(float(v) for v in lv) for lv in d["levels"]),
            categories=tuple(tuple(c) for c in d["categories"]),
        )


def fit_table_scaler(
    x: torch.Tensor, columns: tuple[str, ...], labels: Labels, column_types: Mapping[str, str] | None
) -> Standardizer:
    """The scaler of a csv's training split x (N, D): the plain Standardizer when ``column_types`` is None,
    else a :class:`ColumnScaler` with each column's kind (``column_types`` names some, the rest detected)."""

    text = [bool(labels[j]) if labels else False for j in range(x.shape[1])]
    if column_types is None:
        if any(text):
            name = columns[text.index(True)]
            raise DataError(
                f"column {name!r} holds text: set model.likelihood = 'mixed' (a family per column) or "
                "data.column_types = {} to read text columns as categories"
            )
        return fit_standardizer(x, columns)
    unknown = sorted(set(column_types) - set(columns))
    if unknown:
        raise ConfigError(f"data.column_types names {unknown}, which the table does not have; its columns are {list(columns)}")
    a = x.double().numpy()
    plain = fit_standardizer(x, columns)
    kinds, levels, categories, mean, std = [], [], [], [], []
    for j, name in enumerate(columns):
        kind = column_types.get(name) or detect_kind(a[:, j], text[j])
        _check_kind(name, kind, a[:, j], text[j])
        present = np.unique(a[:, j][np.isfinite(a[:, j])])
        if kind == "categorical" and len(present) > MAX_LEVELS:
            raise DataError(
                f"column {name!r} has {len(present)} distinct values, too many for a categorical column (at most {MAX_LEVELS})"
            )
        kinds.append(kind)
        categorical = kind == "categorical"
        levels.append(tuple(present.tolist()) if categorical and not text[j] else ())
        categories.append(tuple(labels[j][int(c)] for c in present) if categorical and text[j] else ())
        mean.append(plain.mean[j] if kind == "numeric" else 0.0)
        std.append(plain.std[j] if kind == "numeric" else 1.0)
    # restored cells are held to each column's training range in original units (a text column's: its codes)
    return ColumnScaler(
        tuple(mean),
        tuple(std),
        tuple(columns),
        low=plain.low,
        high=plain.high,
        integer=plain.integer,
        kinds=tuple(kinds),
        levels=tuple(levels),
        categories=tuple(categories),
    )


def _check_kind(name: str, kind: str, values: np.ndarray, text: bool) -> None:
    v = values[np.isfinite(values)]
    if text and kind != "categorical":
        raise DataError(f"data.column_types: column {name!r} holds text, so it can only be 'categorical', not {kind!r}")
    if kind == "count" and not (np.all(v >= 0) and np.all(v == np.round(v))):
        bad = v[(v < 0) | (v != np.round(v))][0]
        raise DataError(
            f"data.column_types: column {name!r} is declared 'count' but holds {bad:g}; counts are whole numbers >= 0"
        )
    if kind == "binary" and not np.isin(v, (0.0, 1.0)).all():
        bad = v[~np.isin(v, (0.0, 1.0))][0]
        raise DataError(f"data.column_types: column {name!r} is declared 'binary' but holds {bad:g}; binary values are 0 and 1")


def scale_table(scaler: Standardizer, x: torch.Tensor, labels: Labels = (), unknown: Unknown = "missing") -> torch.Tensor:
    """x (N, D) as read from a source whose text columns' codes index ``labels`` -> the model's units."""
    if isinstance(scaler, ColumnScaler):
        return scaler.transform(x, labels or None, unknown)
    if any(labels):
        raise DataError("the table has text columns, but the model was trained on numbers only; pass a table of numbers")
    return scaler.transform(x)


def source_labels(scaler: Standardizer | None) -> Labels:
    """The labels a scaler's text codes index (for data scaled by another run's or source's scaler)."""
    return scaler.categories if isinstance(scaler, ColumnScaler) else ()


def cell_text(scaler: Standardizer, j: int, value: float) -> str:
    """A csv cell for column j's value in original units."""
    return scaler.cell_text(j, value) if isinstance(scaler, ColumnScaler) else f"{value:.7g}"


def load_scaler(d: dict) -> Standardizer:
    """scaler.json of a run: a typed table's ColumnScaler (data.column_types) or a plain Standardizer."""
    return ColumnScaler.from_dict(d) if "kinds" in d else Standardizer.from_dict(d)
