"""Fast in-memory batching: a dataset is one tensor, a batch is a tensor of indices into it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from vaekit.errors import ConfigError


def iterate_batches(
    n: int,
    batch_size: int,
    *,
    shuffle: bool,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    rank: int = 0,
    world_size: int = 1,
) -> Iterator[torch.Tensor]:
    """Yield (B,) int64 index tensors covering range(n) once: one randperm per call (epoch).

    With ``world_size > 1`` every rank must pass a generator in the same state: each global batch
    of ``batch_size`` indices is cut into ``world_size`` equal, disjoint, contiguous slices and
    this rank gets slice ``rank``, so the global batch is what the user set. A short last batch is
    split the same way; its remainder (< world_size indices) is left out of this epoch.
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ConfigError(f"rank {rank} is not in range for world_size {world_size}")
    if batch_size % world_size:
        raise ConfigError(
            f"batch_size {batch_size} must be divisible by the number of processes "
            f"({world_size}) so each takes an equal share of every batch"
        )
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)  # (n,)
    per_rank = batch_size // world_size
    for start in range(0, n, batch_size):
        batch = order[start : start + batch_size]  # (B,) a view, no copy
        if len(batch) < batch_size:
            if drop_last:
                return
            per_rank = len(batch) // world_size
            if per_rank == 0:
                return
        if world_size == 1:
            yield batch
        else:
            yield batch[rank * per_rank : (rank + 1) * per_rank]


def dynamic_binarize(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Resample binary pixels x ~ Bernoulli(x) for a batch in [0, 1] (same shape as x).

    A generator on another device than x (the run's CPU generator, GPU data) draws on its own
    device and the result moves to x's, so a GPU run binarises as a CPU run does.
    """
    if generator is not None and generator.device != x.device:
        return torch.bernoulli(x.to(generator.device), generator=generator).to(x.device)
    return torch.bernoulli(x, generator=generator)


def share_of(n: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of n rows, as ``torch.tensor_split`` cuts them."""
    base, extra = divmod(n, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def binarize_share(x: torch.Tensor, rows: int, start: int, generator: torch.Generator) -> torch.Tensor:
    """Rows [start, start + len(x)) of ``dynamic_binarize`` applied to a (rows, ...) batch: the
    generator advances by the whole batch, so every rank draws what one process would draw.
    (Bernoulli draws one number per element in order, whatever the probabilities.)"""
    if start == 0 and len(x) == rows:
        return dynamic_binarize(x, generator)
    full = x.new_zeros((rows, *x.shape[1:]))  # (rows, ...)
    full[start : start + len(x)] = x
    return dynamic_binarize(full, generator)[start : start + len(x)]


class TensorBatches:
    """The fast path for training: the split is one tensor on its device and a global batch is an
    index slice of it. ``epoch(generator)`` yields (x, y, global batch size) with this rank's
    contiguous share of each global batch; every rank draws the same permutation and binarisation."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        batch_size: int,
        *,
        binarize: bool,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.x, self.y, self.batch_size, self.binarize = x, y, batch_size, binarize
        self.rank, self.world_size = rank, world_size
        self.n = int(x.shape[0])
        self.device = x.device
        self.has_missing = bool(torch.isnan(x).any())  # NaN = missing (tabular data with gaps)

    def epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, int]]:
        for idx in iterate_batches(self.n, self.batch_size, shuffle=True, generator=generator):
            x = self.x[idx]  # (B, *shape), the global batch
            if self.binarize:
                x = dynamic_binarize(x, generator)
            start, stop = share_of(len(idx), self.rank, self.world_size)
            y = None if self.y is None else self.y[idx[start:stop]]
            yield x[start:stop], y, len(idx)


class TensorChunks:
    """Validation over one tensor: this rank's contiguous share of the rows, yielded whole (score it
    in batches of ``batch_size``). With ``binarize_seed`` the split is binarised once, by that seed."""

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None,
        batch_size: int,
        *,
        binarize_seed: int | None,
        rank: int = 0,
        world_size: int = 1,
        device: torch.device | None = None,
    ) -> None:
        if binarize_seed is not None:
            x = dynamic_binarize(x, torch.Generator().manual_seed(binarize_seed))
        start, stop = share_of(int(x.shape[0]), rank, world_size)
        self.x = x[start:stop].to(device)
        self.y = None if y is None else y[start:stop].to(device)
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        yield self.x, self.y  # the whole share at once: the scorer batches it by batch_size


def dense_rows(m, rows: torch.Tensor | range | slice, device: torch.device | None = None) -> torch.Tensor:
    """Rows of a scipy.sparse CSR matrix (N, I) as a dense float32 tensor (b, I): one batch at a time."""
    index: np.ndarray | slice
    if isinstance(rows, torch.Tensor):
        index = rows.numpy()
    elif isinstance(rows, range):
        index = slice(rows.start, rows.stop)
    else:
        index = rows
    return torch.from_numpy(m[index].toarray().astype("float32", copy=False)).to(device)


class SparseBatches:
    """TensorBatches for clicks held sparse (a ratings source): the same permutation and shares from
    the same generator, but each rank densifies only its share of each global batch, so memory holds
    the sparse matrix and one dense batch, never the dense user x item matrix."""

    def __init__(self, x, batch_size: int, *, rank: int = 0, world_size: int = 1, device: torch.device | None = None) -> None:
        self.x, self.batch_size = x.tocsr(), batch_size  # (N, I) CSR
        self.rank, self.world_size = rank, world_size
        self.n = int(x.shape[0])
        self.device = torch.device("cpu") if device is None else torch.device(device)
        self.has_missing = False  # a click matrix has no gaps: an absent entry is "not clicked"

    def epoch(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, None, int]]:
        for idx in iterate_batches(self.n, self.batch_size, shuffle=True, generator=generator):
            start, stop = share_of(len(idx), self.rank, self.world_size)
            yield dense_rows(self.x, idx[start:stop], self.device), None, len(idx)  # (b, I)


class SparseChunks:
    """Validation over held-out users held sparse: this rank's contiguous share of the rows. Iterating
    yields dense chunks of ``batch_size`` users with all their clicks (the validation ELBO);
    ``heldout_chunks`` yields (fold-in, held-out) chunks for ranking metrics."""

    def __init__(
        self, fold_in, heldout, batch_size: int, *, rank: int = 0, world_size: int = 1, device: torch.device | None = None
    ) -> None:
        start, stop = share_of(int(fold_in.shape[0]), rank, world_size)
        self.fold_in = fold_in.tocsr()[start:stop]  # (n, I) this rank's share
        self.heldout = heldout.tocsr()[start:stop]  # (n, I)
        self.batch_size = batch_size
        self.device = device
        self.y = None

    def __iter__(self) -> Iterator[tuple[torch.Tensor, None]]:
        for x, held in self.heldout_chunks():
            yield x + held, None  # (b, I) every known click

    def heldout_chunks(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(fold-in (b, I), held-out (b, I)) dense chunks of this rank's share."""
        n = int(self.fold_in.shape[0])
        for i in range(0, n, self.batch_size):
            rows = range(i, min(i + self.batch_size, n))
            yield dense_rows(self.fold_in, rows, self.device), dense_rows(self.heldout, rows, self.device)
