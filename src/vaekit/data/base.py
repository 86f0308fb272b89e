"""What every data source yields: float tensors split into train/validation/test."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

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
    """Per-column affine scaling of tabular data, fitted on the training split only."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    columns: tuple[str, ...] = ()

    def transform(self, x: torch.Tensor) -> torch.Tensor:
        return (x - torch.tensor(self.mean, dtype=x.dtype)) / torch.tensor(self.std, dtype=x.dtype)

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.tensor(self.std, dtype=x.dtype) + torch.tensor(self.mean, dtype=x.dtype)

    def to_dict(self) -> dict:
        return {"mean": list(self.mean), "std": list(self.std), "columns": list(self.columns)}

    @classmethod
    def from_dict(cls, d: dict) -> Standardizer:
        """A plain standardiser; ``data.columns.load_scaler`` reads either kind of scaler.json."""
        return cls(tuple(d["mean"]), tuple(d["std"]), tuple(d.get("columns", ())))


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
    (or no values) gets std 1, so it is only centred."""
    a = x.numpy().astype(np.float64)
    with warnings.catch_warnings():  # all-NaN columns warn; they are handled below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(a, axis=0)
        std = np.nanstd(a, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    flat = ~np.isfinite(std) | (std <= 1e-8 * np.maximum(1.0, np.abs(mean)))
    std = np.where(flat, 1.0, std)
    return Standardizer(tuple(mean.tolist()), tuple(std.tolist()), tuple(columns))
