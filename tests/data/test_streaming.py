"""Streamed image folders: the same rows, pixels, batches and binarisation as the in-memory path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.config import DataConfig
from vaekit.data import DataSplits, load_data
from vaekit.data.streaming import StreamedSplits, open_data, training_batches
from vaekit.errors import ConfigError, DataFormatError

Image = pytest.importorskip("PIL.Image")
CPU = torch.device("cpu")


def _folder(root: Path, n: int = 40, colour: bool = False) -> Path:
    """n small images in 3 class folders, varied pixels; one in four has an odd size (resized)."""
    rng = np.random.default_rng(0)
    for i in range(n):
        size = (7, 5) if i % 4 == 0 else (6, 4)  # (W, H): the most common size wins
        shape = (size[1], size[0], 3) if colour else (size[1], size[0])
        path = root / f"c{i % 3}" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return root


def _cfg(root: Path, **kw: object) -> DataConfig:
    base = dict(source=f"folder:{root}", validation_fraction=0.2, test_fraction=0.2, streaming=True, workers=0)
    base.update(kw)
    return DataConfig(**base)


@pytest.mark.parametrize("colour", [False, True])
def test_streamed_splits_hold_the_rows_and_pixels_of_an_in_memory_load(tmp_path: Path, colour: bool) -> None:
    cfg = _cfg(_folder(tmp_path / "imgs", colour=colour), classes=(0, 2), limit=12)
    streamed, in_memory = open_data(cfg), load_data(cfg)
    assert isinstance(streamed, StreamedSplits) and isinstance(in_memory, DataSplits)
    assert streamed.shape == in_memory.shape == ((3 if colour else 1), 4, 6)
    assert streamed.class_names == in_memory.class_names
    for name in ("train", "validation", "test"):
        part, split = getattr(streamed, name), getattr(in_memory, name)
        assert len(part) == len(split) > 0
        torch.testing.assert_close(part.head(len(part)).x, split.x, rtol=0, atol=0)
        assert torch.equal(part.y, split.y)


def test_auto_streams_only_above_the_memory_budget_and_other_sources_stay_in_memory(tmp_path: Path) -> None:
    root = _folder(tmp_path / "imgs", n=12)
    assert isinstance(open_data(_cfg(root, streaming="auto", memory_budget_gb=1.0)), DataSplits)
    # 12 images x 3 channels (before decoding, assume colour) x 4 x 6 x 5 bytes = 4320 bytes
    assert isinstance(open_data(_cfg(root, streaming="auto", memory_budget_gb=4e-6)), StreamedSplits)
    assert isinstance(open_data(_cfg(root, streaming="auto", memory_budget_gb=5e-6)), DataSplits)
    assert isinstance(open_data(DataConfig(source="digits", limit=20)), DataSplits)
    with pytest.raises(ConfigError, match="folder:PATH"):
        open_data(DataConfig(source="digits", streaming=True))
    with pytest.raises(ConfigError, match="binarize = 'dynamic'"):
        open_data(_cfg(root, binarize="static"))


def _batches(data: object, world_size: int, rank: int, workers: int = 0, labels: bool = True):
    return training_batches(
        data, 8, 3, binarize=True, validation_seed=5, labels=labels, workers=workers, rank=rank, world_size=world_size, device=CPU
    )


def _epoch(batches, seed: int = 1) -> tuple[list[tuple[torch.Tensor, torch.Tensor, int]], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = list(batches.epoch(g))
    return out, g.get_state()


@pytest.mark.parametrize("world_size", [1, 3])
def test_each_rank_streams_its_share_of_the_global_batches_with_the_same_binarisation(tmp_path: Path, world_size: int) -> None:
    cfg = _cfg(_folder(tmp_path / "imgs", n=31), validation_fraction=0.3, test_fraction=0.0)
    in_memory, streamed = load_data(cfg), open_data(cfg)
    reference, state = _epoch(_batches(in_memory, 1, 0)[0])
    ref_val = list(_batches(in_memory, 1, 0)[1])
    shares = []
    for rank in range(world_size):
        batches, chunks = _batches(streamed, world_size, rank)
        got, got_state = _epoch(batches)
        assert torch.equal(got_state, state)  # every rank leaves the generator where one process does
        shares.append(got)
        val_x = torch.cat([x for x, _ in chunks])
        lo = sum(len(t) for t in torch.tensor_split(torch.arange(9), world_size)[:rank])  # 9 = 30% of 31
        assert torch.equal(val_x, torch.cat([x for x, _ in ref_val])[lo : lo + len(val_x)])
    assert len(reference) == 3  # 8 + 8 + 6 of the 22 training images
    for i, (x, y, size) in enumerate(reference):
        assert {int(share[i][2]) for share in shares} == {size}
        assert torch.equal(torch.cat([share[i][0] for share in shares]), x)  # contiguous, disjoint shares
        assert torch.equal(torch.cat([share[i][1] for share in shares]), y)
        assert set(x.unique().tolist()) <= {0.0, 1.0}


def test_worker_processes_yield_the_same_batches_and_stay_exact_across_epochs(tmp_path: Path) -> None:
    streamed = open_data(_cfg(_folder(tmp_path / "imgs", n=20), test_fraction=0.0))
    one, two = _batches(streamed, 1, 0, workers=0, labels=False)[0], _batches(streamed, 1, 0, workers=2, labels=False)[0]
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    for _ in range(2):  # the second epoch reuses the persistent workers with a new order
        a, b = list(one.epoch(g1)), list(two.epoch(g2))
        assert len(a) == len(b) == 2
        for (xa, ya, na), (xb, yb, nb) in zip(a, b):
            assert torch.equal(xa, xb) and ya is None and yb is None and na == nb


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_that_breaks_mid_training_is_named(tmp_path: Path, workers: int) -> None:
    root = _folder(tmp_path / "imgs", n=12)
    streamed = open_data(_cfg(root, validation_fraction=0.0, test_fraction=0.0, workers=workers))
    victim = Path(streamed.train.files.files[0])
    victim.write_bytes(victim.read_bytes()[:60])  # truncated after the header was read
    batches = _batches(streamed, 1, 0, workers=workers)[0]
    with pytest.raises(DataFormatError, match=f"{victim.name}.*could not be"):
        _epoch(batches)
