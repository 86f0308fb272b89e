"""What every data source yields: float tensors split into train/validation/test (ratings: sparse clicks)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
