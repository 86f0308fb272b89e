"""Index batching and dynamic binarisation."""

from __future__ import annotations

import pytest
import torch

from vaekit.data import dynamic_binarize, iterate_batches
from vaekit.errors import ConfigError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_every_index_exactly_once_per_epoch() -> None:
    batches = list(iterate_batches(103, 10, shuffle=True, generator=_gen(0)))
    assert [len(b) for b in batches] == [10] * 10 + [3]
    assert all(b.dtype == torch.int64 for b in batches)
    assert torch.equal(torch.cat(batches).sort().values, torch.arange(103))


def test_drop_last_and_no_shuffle() -> None:
    batches = list(iterate_batches(103, 10, shuffle=False, drop_last=True))
    assert len(batches) == 10
    assert torch.equal(torch.cat(batches), torch.arange(100))
    assert list(iterate_batches(0, 10, shuffle=True, generator=_gen(0))) == []


def test_reproducible_from_generator_seed() -> None:
    a = list(iterate_batches(50, 8, shuffle=True, generator=_gen(7)))
    b = list(iterate_batches(50, 8, shuffle=True, generator=_gen(7)))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    g = _gen(7)
    epoch1 = torch.cat(list(iterate_batches(50, 8, shuffle=True, generator=g)))
    epoch2 = torch.cat(list(iterate_batches(50, 8, shuffle=True, generator=g)))
    assert not torch.equal(epoch1, epoch2)  # one randperm per epoch, from the same stream


def test_shards_are_disjoint_and_union_to_global_batch() -> None:
    full = list(iterate_batches(103, 10, shuffle=True, generator=_gen(1)))
    rank0 = list(iterate_batches(103, 10, shuffle=True, generator=_gen(1), rank=0, world_size=2))
    rank1 = list(iterate_batches(103, 10, shuffle=True, generator=_gen(1), rank=1, world_size=2))
    assert len(rank0) == len(rank1) == len(full)
    for whole, a, b in zip(full[:-1], rank0, rank1):
        assert len(a) == len(b) == 5
        assert not set(a.tolist()) & set(b.tolist())
        assert torch.equal(torch.cat([a, b]), whole)
    # the short last batch (3) is split 1 + 1; one index sits out this epoch
    assert len(rank0[-1]) == len(rank1[-1]) == 1
    assert set(torch.cat([rank0[-1], rank1[-1]]).tolist()) < set(full[-1].tolist())


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="divisible"):
        next(iterate_batches(10, 5, shuffle=False, world_size=2))
    with pytest.raises(ConfigError):
        next(iterate_batches(10, 0, shuffle=False))
    with pytest.raises(ConfigError):
        next(iterate_batches(10, 4, shuffle=False, rank=2, world_size=2))


def test_dynamic_binarize() -> None:
    x = torch.full((1000, 20), 0.3)
    a = dynamic_binarize(x, _gen(0))
    assert a.shape == x.shape and bool(((a == 0) | (a == 1)).all())
    assert abs(a.mean().item() - 0.3) < 0.02
    assert torch.equal(a, dynamic_binarize(x, _gen(0)))
    assert not torch.equal(a, dynamic_binarize(x, _gen(1)))
