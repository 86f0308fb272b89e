"""Fast in-memory batching: a dataset is one tensor, a batch is a tensor of indices into it."""

from __future__ import annotations

from collections.abc import Iterator

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

    The generator must live on x's device.
    """
    return torch.bernoulli(x, generator=generator)
