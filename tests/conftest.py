"""Fixtures for the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Every test on one torch thread (tiny models train faster so on 2 shared cores); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_ratings(path, users: int = 60, items: int = 40, seed: int = 0, layout: str = "u.data"):
    """A small ratings file with structure: users of group g (user % 2) rate the items of group g
    (item % 2 == g) 4-5 and a few others 1-3; each user has 8-14 ratings. ``layout``: u.data (tab),
    ratings.csv (header userId,movieId,rating,timestamp) or ratings.dat (::). Returns the path."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lines = []
    for u in range(1, users + 1):
        mine = [i for i in range(1, items + 1) if i % 2 == u % 2]
        liked = rng.choice(mine, size=int(rng.integers(6, 11)), replace=False)
        others = rng.choice([i for i in range(1, items + 1) if i % 2 != u % 2], size=int(rng.integers(2, 5)), replace=False)
        for i in liked:
            lines.append((u, int(i), int(rng.integers(4, 6)), 880000000 + len(lines)))
        for i in others:
            lines.append((u, int(i), int(rng.integers(1, 4)), 880000000 + len(lines)))
    sep = {"u.data": "\t", "ratings.csv": ",", "ratings.dat": "::"}[layout]
    text = "".join(sep.join(map(str, row)) + "\n" for row in lines)
    if layout == "ratings.csv":
        text = "userId,movieId,rating,timestamp\n" + text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def ratings_file(tmp_path):
    """ratings_file(name="u.data", **options) -> a synthetic ratings file (see write_ratings) in tmp_path."""

    def make(name: str = "u.data", **options):
        return write_ratings(
            tmp_path / name, layout=options.pop("layout", name if name in ("ratings.csv", "ratings.dat") else "u.data"), **options
        )

    return make


@pytest.fixture(scope="session")
def ratings_writer():
    """write_ratings itself, for module- and session-scoped fixtures (conftest is not importable)."""
    return write_ratings
