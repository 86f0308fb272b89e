"""Inputs to score or restore, with a name per example.

A split of any source (``train``/``validation``/``test``) comes through
:func:`vaekit.runs.load_run_data`, named by index. ``split="all"`` — the default
for ``folder:``, ``csv:`` and ``npz:`` sources — reads every example of the file or folder in
its own order (folders in sorted file order), named by file path relative to the folder, with
the run's preprocessing (image size and channels, static binarisation, the run's scaler).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vaekit.checkpoint import RunDir
from vaekit.errors import ConfigError, DataError
from vaekit.runs import load_run_data

PATH_SOURCES = ("folder", "csv", "npz")
SPLITS = ("train", "validation", "test", "all")


@dataclass(frozen=True)
class Examples:
    x: torch.Tensor  # (N, *data_shape) as the model takes it (standardised for tables; NaN = missing)
    y: torch.Tensor | None  # (N,) class labels, when the source has them
    names: tuple[str, ...]  # file path relative to the folder, else the index as text
    source: str
    split: str
    checksum: str  # sha256 of x and y
    path: Path | None = None  # the folder or file, for split "all"
    kind: str = "image"  # "image" or "tabular"

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def head(self, n: int | None) -> Examples:
        if n is None or n >= len(self):
            return self
        if n < 1:
            raise ConfigError(f"-n must be at least 1, got {n}")
        y = None if self.y is None else self.y[:n]
        return dataclasses.replace(self, x=self.x[:n], y=y, names=self.names[:n], checksum=_checksum(self.x[:n], y))

    def describe(self) -> dict:
        return {"source": self.source, "split": self.split, "n": len(self), "checksum": self.checksum}


def is_path_source(source: str) -> bool:
    return source.partition(":")[0].lower() in PATH_SOURCES and ":" in source


def default_split(source: str) -> str:
    return "all" if is_path_source(source) else "test"


def load_examples(
    run: RunDir,
    source: str | None = None,
    split: str | None = None,
    data_dir: str | None = None,
    keep_run_classes: bool = False,
) -> Examples:
    """Examples of ``source`` (default: the run's own) for the model of ``run``.

    ``keep_run_classes`` keeps the run's ``data.classes`` filter when the source is the run's own
    (fitting a detector on a one-class run's normal data); otherwise every class is loaded.
    """
    own = run.config.data.source
    source = own if source is None else source
    split = default_split(source) if split is None else split
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}: use {', '.join(SPLITS)}")
    if split == "all":
        if not is_path_source(source):
            raise ConfigError(
                f"--split all reads a folder:, csv: or npz: source in its own order; for {source!r} "
                "pick --split train, validation or test"
            )
        return _load_whole(run, source, data_dir)
    data = load_run_data(run, None if (keep_run_classes and source == own) else source, data_dir)
    part = data.split(split)
    names = tuple(str(i) for i in range(len(part)))
    return Examples(part.x, part.y, names, source, split, _checksum(part.x, part.y), kind=data.kind)


def _load_whole(run: RunDir, source: str, data_dir: str | None) -> Examples:
    from vaekit.data import images, tabular
    from vaekit.data.registry import Raw

    prefix, _, rest = source.partition(":")
    prefix = prefix.lower()
    path = Path(os.path.expanduser(rest.strip()))
    changes: dict = {"source": source, "classes": None, "limit": None}
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if prefix == "folder" and run.info.data_kind == "image":
        changes["image_size"] = tuple(run.info.data_shape[1:])  # new folders come at the model's size
    cfg = dataclasses.replace(run.config.data, **changes)
    names: list[str] | None = None
    if prefix == "folder":
        raw = images.load_folder(cfg, str(path))
        files, _, _ = images.list_images(path)
        names = [p.relative_to(path).as_posix() for p in files]
    elif prefix == "csv":
        raw = tabular.load_csv(cfg, str(path))
    else:
        raw = tabular.load_npz(cfg, str(path))
    if not isinstance(raw, Raw):  # a loader may hand back a ready ratings source; these three never do
        raise DataError(f"data {source!r} is not a folder, csv or npz source")
    parts = [p for p in (raw.train, raw.validation, raw.test) if p is not None]
    x = torch.from_numpy(np.concatenate([p.x for p in parts]))
    x = x.to(torch.float32).div_(raw.pixel_max) if x.dtype == torch.uint8 and raw.kind == "image" else x.to(torch.float32)
    ys = [p.y for p in parts]
    labelled = [v for v in ys if v is not None]
    y = None if len(labelled) < len(ys) else torch.from_numpy(np.concatenate(labelled).astype(np.int64))
    if tuple(x.shape[1:]) != tuple(run.info.data_shape):
        raise DataError(
            f"data {source!r} has examples of shape {tuple(x.shape[1:])}, but the model in {run.path} "
            f"was trained on shape {tuple(run.info.data_shape)}; pass data of the model's size"
        )
    if raw.standardize:
        x = _standardize(run, raw.columns, x, source, raw.categories)
    if cfg.binarize == "static":
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(cfg.seed))  # as load_data does
    names = names or [str(i) for i in range(x.shape[0])]
    return Examples(x, y, tuple(names), source, "all", _checksum(x, y), path=path, kind=raw.kind)


def _standardize(run: RunDir, columns: tuple[str, ...], x: torch.Tensor, source: str, labels: tuple = ()) -> torch.Tensor:
    from vaekit.data.columns import scale_table

    scaler = run.scaler()
    if scaler is None:
        raise DataError(f"{run.path} has no scaler.json, so {source!r} cannot be scaled as its training data was")
    if scaler.columns and tuple(columns) != tuple(scaler.columns):
        raise DataError(
            f"{source!r} has columns {list(columns)}, but the model in {run.path} was trained on "
            f"{list(scaler.columns)}; pass a table with the same columns in the same order"
        )
    return scale_table(scaler, x, labels, unknown="error")  # NaN stays NaN; text labels read by name


def _checksum(x: torch.Tensor, y: torch.Tensor | None) -> str:
    h = hashlib.sha256()
    for t in (x, y):
        if t is None:
            h.update(b"none;")
            continue
        a = t.detach().cpu().contiguous().numpy()
        h.update(f"{a.dtype}:{a.shape};".encode())
        h.update(a.reshape(-1).view(np.uint8).tobytes())
    return h.hexdigest()
