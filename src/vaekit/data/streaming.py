"""Image folders larger than memory: batches decoded by ``torch.utils.data.DataLoader`` workers.

Training calls :func:`open_data`: for ``folder:PATH`` with ``data.streaming = true`` (or "auto" and
decoded splits above ``data.memory_budget_gb``) it returns :class:`StreamedSplits`, file lists in
place of pixels; otherwise :func:`load_data`'s tensors. :func:`training_batches` turns either into
the training batches and validation chunks the loop iterates. The two paths pick the same rows for
each split (the same seeded permutation), decode the same pixels, and draw the same shuffling and
binarisation from the run's generator, so a run's weights do not depend on the path it took, and a
resumed run stays exact. Under DDP each rank decodes only its contiguous share of each global batch.

The main process plans each epoch (one permutation, drawn eagerly, so prefetching workers never touch
the generator); workers only decode files into uint8 (C, H, W) tensors.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from vaekit.config import DataConfig
from vaekit.data.base import DataSplits, RatingsSplits, Split
from vaekit.data.batches import (
    SparseBatches,
    SparseChunks,
    TensorBatches,
    TensorChunks,
    binarize_share,
    dynamic_binarize,
    iterate_batches,
    share_of,
)
from vaekit.errors import ConfigError, DataError

VALUES_BYTES = 5  # held per decoded value in memory: the uint8 source plus its float32 split


class ImageFiles(Dataset):
    """Every file of a folder source; item i is file i decoded to (C, H, W) uint8."""

    def __init__(self, files: list[str], size: tuple[int, int], colour: bool, channels: str) -> None:
        self.files, self.size, self.colour, self.channels = files, size, colour, channels

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every item."""
        return (3 if self.colour else 1, *self.size)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.__getitems__([i])[0]

    def __getitems__(self, rows: list[int]) -> torch.Tensor:
        """(b, C, H, W) uint8: a whole batch per worker call, stacked without a collate pass."""
        from PIL import Image

        from vaekit.data.images import _open, decode_file, to_chw

        height, width = self.size
        out = np.empty((len(rows), *self.shape), np.uint8)  # (b, C, H, W)
        for j, i in enumerate(rows):
            path = Path(self.files[i])
            with _open(path) as im:
                out[j] = to_chw(decode_file(path, im, (width, height), self.channels, Image), self.colour)
        return torch.from_numpy(out)


@dataclass(frozen=True)
class FileSplit:
    """One split of a streamed source: which files (rows into ``files``) and their labels."""

    files: ImageFiles
    rows: torch.Tensor  # (N,) int64 file numbers
    y: torch.Tensor | None = None  # (N,) int64 labels

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def head(self, n: int) -> Split:
        """The first n examples decoded in this process, as float32 [0, 1]."""
        rows = self.rows[:n].tolist()
        x = self.files.__getitems__(rows).to(torch.float32).div_(255.0)
        return Split(x, None if self.y is None else self.y[:n])


@dataclass(frozen=True)
class StreamedSplits:
    """DataSplits' counterpart for a folder read batch by batch. ``checksum`` is a sha256 over each
    split's files (resolved path, size, mtime), labels and the decoded shape: it names the same
    data, but is not the pixel checksum an in-memory load reports."""

    name: str
    shape: tuple[int, int, int]  # (C, H, W)
    train: FileSplit
    validation: FileSplit
    test: FileSplit
    checksum: str
    num_classes: int | None = None
    class_names: tuple[str, ...] = ()
    kind: str = "image"
    scaler: None = None

    def preview(self, n: int) -> DataSplits:
        """The first n examples of each split in memory (figures and other small uses)."""
        train, validation, test = (s.head(n) for s in (self.train, self.validation, self.test))
        return DataSplits(
            self.name, "image", self.shape, train, validation, test, self.checksum, None, self.num_classes, self.class_names
        )


def open_data(cfg: DataConfig) -> DataSplits | StreamedSplits | RatingsSplits:
    """The data of ``cfg`` in memory, or streamed from its folder (see the module docstring)."""
    from vaekit.data.registry import _resolve, load_data

    if cfg.workers < 0:
        raise ConfigError(f"data.workers must be 0 or more, got {cfg.workers}")
    if cfg.memory_budget_gb is not None and cfg.memory_budget_gb <= 0:
        raise ConfigError(f"data.memory_budget_gb must be positive (or unset), got {cfg.memory_budget_gb}")
    name, path_text = _resolve(cfg.source)
    if name != "folder":
        if cfg.streaming is True:
            raise ConfigError(
                f"data.streaming = true reads folder:PATH sources batch by batch; {cfg.source} is loaded "
                "into memory: set data.streaming = 'auto' or false"
            )
        return load_data(cfg)
    if cfg.streaming is False:
        return load_data(cfg)
    from vaekit.data.images import common_size, is_colour, list_images

    root = Path(path_text)
    if not root.is_dir():
        return load_data(cfg)  # its own clear error for a missing path or a file
    files, labels, class_names = list_images(root)
    size = common_size(files, cfg)
    if cfg.streaming == "auto":
        channels = 1 if cfg.channels == "grayscale" else 3  # the worst case before decoding
        if len(files) * channels * size[0] * size[1] * VALUES_BYTES <= memory_budget(cfg):
            return load_data(cfg)
    if cfg.binarize == "static":
        raise ConfigError(
            f"data.binarize = 'static' samples the whole folder once in memory, but {cfg.source} is "
            "streamed: use data.binarize = 'dynamic', or data.streaming = false if it fits in memory"
        )
    return _streamed(cfg, files, labels, class_names, size, is_colour(files, size, cfg))


def memory_budget(cfg: DataConfig) -> float:
    """Bytes a decoded source may take before "auto" streams it."""
    if cfg.memory_budget_gb is not None:
        return cfg.memory_budget_gb * 1e9
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2
    except (AttributeError, ValueError, OSError):  # not a POSIX system
        return 4e9


def _streamed(
    cfg: DataConfig,
    files: list[Path],
    labels: list[int] | None,
    class_names: tuple[str, ...],
    size: tuple[int, int],
    colour: bool,
) -> StreamedSplits:
    from vaekit.data.registry import Part, Raw, file_key, select_rows

    rows = np.arange(len(files))
    y = None if labels is None else np.asarray(labels, np.int64)
    raw = Raw("image", Part(rows, y), num_classes=len(class_names) or None, class_names=class_names)
    dataset = ImageFiles([str(p) for p in files], size, colour, cfg.channels)
    keys = file_key(files)
    h = hashlib.sha256(f"streamed:{size}:{colour}:{cfg.binarize}".encode())
    splits = {}
    for s, (part, idx) in select_rows(cfg, raw).items():
        split_y = None if part.y is None else torch.from_numpy(part.y[idx].astype(np.int64))
        splits[s] = FileSplit(dataset, torch.from_numpy(part.x[idx].astype(np.int64)), split_y)
        h.update(f"{s}:{[keys[i] for i in idx.tolist()]}:{None if split_y is None else split_y.tolist()};".encode())
    return StreamedSplits(
        name=cfg.source,
        shape=dataset.shape,
        train=splits["train"],
        validation=splits["validation"],
        test=splits["test"],
        checksum=h.hexdigest(),
        num_classes=raw.num_classes,
        class_names=class_names,
    )


# ---------------------------------------------------------------- batches


class _Plan:
    """The batch sampler of the one DataLoader: (b,) tensors of file numbers, set before each pass
    (kept as tensors, made lists one batch at a time: an epoch of Python ints would be big)."""

    def __init__(self) -> None:
        self.batches: list[torch.Tensor] = []

    def __iter__(self) -> Iterator[list[int]]:
        return (b.tolist() for b in self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def _as_is(batch: torch.Tensor) -> torch.Tensor:
    return batch  # ImageFiles.__getitems__ already stacked it


class _Reader:
    """One DataLoader (and one pool of worker processes) shared by training and validation."""

    def __init__(self, files: ImageFiles, workers: int, device: torch.device) -> None:
        self.plan = _Plan()
        self.device = device
        self.files = files
        self.loader = DataLoader(
            files,
            batch_sampler=self.plan,
            num_workers=workers,
            collate_fn=_as_is,  # type: ignore[arg-type]  # the stubs expect a list of samples; __getitems__ hands over one tensor
            pin_memory=device.type == "cuda",
            persistent_workers=workers > 0,
            generator=torch.Generator(),  # each pass seeds its workers from this, not torch's global stream
        )

    def read(self, batches: list[torch.Tensor]) -> Iterator[torch.Tensor]:
        """Each (b,) batch of file numbers as float32 [0, 1] on the device, in order (empty ones too)."""
        self.plan.batches = [b for b in batches if len(b)]
        loaded: Iterator[torch.Tensor] = iter(self.loader) if self.plan.batches else iter(())
        for b in batches:
            if not len(b):  # a rank's empty share of a tiny last batch
                yield torch.empty((0, *self.files.shape), device=self.device)
                continue
            try:
                x = next(loaded)  # (b, C, H, W) uint8
            except DataError as e:  # from a worker, its message wraps the worker's traceback
                text = str(e).strip()
                raise type(e)(text.splitlines()[-1].split(": ", 1)[-1] if text.startswith("Caught ") else text) from None
            yield x.to(self.device, non_blocking=True).to(torch.float32).div_(255.0)


class StreamBatches:
    """Training batches of a streamed split; the same interface and draws as TensorBatches."""

    def __init__(self, split: FileSplit, reader: _Reader, batch_size: int, *, binarize: bool, rank: int, world_size: int) -> None:
        self.split, self.reader, self.batch_size, self.binarize = split, reader, batch_size, binarize
        self.rank, self.world_size = rank, world_size
        self.n = len(split)
        self.device = reader.device
        self.has_missing = False  # decoded images have no missing pixels

    def epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, int]]:
        order = list(iterate_batches(self.n, self.batch_size, shuffle=True, generator=generator))  # drawn now
        shares = [share_of(len(idx), self.rank, self.world_size) for idx in order]
        mine = [idx[start:stop] for idx, (start, stop) in zip(order, shares)]
        decoded = self.reader.read([self.split.rows[m] for m in mine])
        for idx, m, (start, _), x in zip(order, mine, shares, decoded):
            if self.binarize:
                x = binarize_share(x, len(idx), start, generator)
            y = None if self.split.y is None else self.split.y[m].to(self.device)
            yield x, y, len(idx)


class StreamChunks:
    """Validation over a streamed split: this rank's contiguous share of the rows, in chunks,
    binarised as TensorChunks does (one fixed draw over the whole split, by ``binarize_seed``)."""

    def __init__(
        self, split: FileSplit, reader: _Reader, batch_size: int, *, binarize_seed: int | None, rank: int, world_size: int
    ) -> None:
        self.split, self.reader, self.batch_size = split, reader, batch_size
        self.start, self.stop = share_of(len(split), rank, world_size)
        self.generator_state = None
        if binarize_seed is not None:  # skip the draws of the rows before this rank's share, once
            g = torch.Generator().manual_seed(binarize_seed)
            for i in range(0, self.start, batch_size):  # Bernoulli draws one number per element
                dynamic_binarize(torch.zeros(min(batch_size, self.start - i), *split.files.shape), g)
            self.generator_state = g.get_state()

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        chunks = [range(i, min(i + self.batch_size, self.stop)) for i in range(self.start, self.stop, self.batch_size)]
        g = None
        if self.generator_state is not None:
            g = torch.Generator()
            g.set_state(self.generator_state)
        decoded = self.reader.read([self.split.rows[c.start : c.stop] for c in chunks])
        for c, x in zip(chunks, decoded):
            if g is not None:
                x = dynamic_binarize(x, g)  # drawn on the generator's device (the CPU)
            y = None if self.split.y is None else self.split.y[c.start : c.stop].to(self.reader.device)
            yield x, y


def training_batches(
    data: DataSplits | StreamedSplits | RatingsSplits,
    batch_size: int,
    eval_batch_size: int,
    *,
    binarize: bool,
    validation_seed: int,
    labels: bool,
    workers: int,
    rank: int,
    world_size: int,
    device: torch.device,
) -> tuple[TensorBatches | StreamBatches | SparseBatches, TensorChunks | StreamChunks | SparseChunks]:
    """(training batches, validation chunks) for this rank. ``binarize``: dynamic binarisation,
    validated on one fixed draw by ``validation_seed``; ``labels``: yield y (conditional models).
    Ratings are held sparse and densified a batch at a time."""
    seed = validation_seed if binarize else None
    if isinstance(data, RatingsSplits):
        clicks = data.validation
        return (
            SparseBatches(data.train.x, batch_size, rank=rank, world_size=world_size, device=device),
            SparseChunks(clicks.x, clicks.heldout, eval_batch_size, rank=rank, world_size=world_size, device=device),
        )
    if isinstance(data, StreamedSplits):
        reader = _Reader(data.train.files, workers, device)
        train, val = data.train, data.validation
        if not labels:
            train, val = FileSplit(train.files, train.rows), FileSplit(val.files, val.rows)
        return (
            StreamBatches(train, reader, batch_size, binarize=binarize, rank=rank, world_size=world_size),
            StreamChunks(val, reader, eval_batch_size, binarize_seed=seed, rank=rank, world_size=world_size),
        )
    if labels and data.train.y is None:
        raise DataError(f"the model is conditioned on labels, but {data.name} has no labels; use a labelled data source")
    y_train = data.train.y.to(device) if labels and data.train.y is not None else None
    return (
        TensorBatches(data.train.x.to(device), y_train, batch_size, binarize=binarize, rank=rank, world_size=world_size),
        TensorChunks(
            data.validation.x,
            data.validation.y if labels else None,
            eval_batch_size,
            binarize_seed=seed,
            rank=rank,
            world_size=world_size,
            device=device,
        ),
    )
