"""Recommendation from a ratings run: encode what a user clicked, decode a distribution over every
item, and return the most likely items the user has not clicked.

Three ways to name a user: one the run's ratings file knows (``for_user``: all the user's clicks are
folded in, whichever split the user was in), a list of items (``for_items``: a new user), or every
user of another ratings file (``for_file``). Items are the run's columns (``items.json``); an item
the training users never clicked has no column, and naming one is an error that says so.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from vaekit.checkpoint import ITEMS, RunDir
from vaekit.data.base import RatingsSplits
from vaekit.data.batches import dense_rows
from vaekit.errors import ConfigError, DataError, RunDirError
from vaekit.evaluation.ranking import item_scores
from vaekit.runs import load_run_data

BATCH = 1000  # users scored per pass
SHOWN = 5  # unknown ids quoted in an error


@dataclass(frozen=True)
class Recommendation:
    user: str
    rank: int  # 1 = best
    item: str
    title: str
    score: float  # p(next click = item | the user's clicks), under the model


class Recommender:
    """A ratings run ready to recommend: its model (eval mode), item ids and titles."""

    def __init__(self, run_dir: str | Path, which: Literal["best", "last"] = "best") -> None:
        self.run = RunDir(run_dir)
        if self.run.info.data_kind != "ratings":
            raise ConfigError(
                f"{self.run.path} was trained on {self.run.config.data.source!r}; recommend needs a run trained on ratings:PATH"
            )
        maps_path = self.run.path / ITEMS
        try:
            maps: dict[str, Any] = json.loads(maps_path.read_text())
            self.items: tuple[str, ...] = tuple(maps["items"])
            self.titles: dict[str, str] = dict(maps.get("titles", {}))
        except (OSError, ValueError, KeyError) as e:
            raise RunDirError(
                f"{maps_path} is missing or damaged ({type(e).__name__}); it maps the model's columns to items"
            ) from None
        self.model = self.run.load_model(which)
        self.column = {item: j for j, item in enumerate(self.items)}

    def for_clicks(self, users: list[str], clicks: Any, n: int) -> list[Recommendation]:
        """Top ``n`` unclicked items for each row of ``clicks`` (a CSR or dense (U, I) matrix)."""
        if n < 1:
            raise ConfigError(f"-n must be at least 1, got {n}")
        n = min(n, len(self.items))
        out: list[Recommendation] = []
        for start in range(0, len(users), BATCH):
            rows = range(start, min(start + BATCH, len(users)))
            x = dense_rows(clicks, rows) if not isinstance(clicks, torch.Tensor) else clicks[start : rows.stop]  # (b, I)
            scores = item_scores(self.model, x)  # (b, I), clicked items -inf
            top = scores.topk(n, dim=1)
            for b, user in enumerate(users[start : rows.stop]):
                for rank, (s, j) in enumerate(zip(top.values[b].tolist(), top.indices[b].tolist()), start=1):
                    if s == float("-inf"):
                        break  # the user clicked every other item
                    item = self.items[j]
                    out.append(Recommendation(user, rank, item, self.titles.get(item, ""), s))
        return out

    def for_items(self, items: list[str], n: int, user: str = "new") -> list[Recommendation]:
        """A new user who clicked ``items`` (ids as in the ratings file)."""
        items = [i.strip() for i in items if i.strip()]
        if not items:
            raise ConfigError("--items is empty: give item ids separated by commas, e.g. --items 50,172,133")
        unknown = [i for i in items if i not in self.column]
        if unknown:
            raise DataError(f"{_unknown(unknown)}; the items this model knows are listed in {self.run.path / ITEMS}")
        x = torch.zeros(1, len(self.items))
        x[0, [self.column[i] for i in items]] = 1.0
        return self.for_clicks([user], x, n)

    def for_user(self, user: str, n: int, data_dir: str | None = None) -> list[Recommendation]:
        """A user of the run's own ratings file: every click of theirs folded in (all splits)."""
        data = load_run_data(self.run, None, data_dir, ratings=True)
        if not isinstance(data, RatingsSplits):
            raise DataError(f"{self.run.path} was not trained on a ratings:PATH source; recommend needs a ratings run")
        for name in ("train", "validation", "test"):
            part = data.split(name)
            if user in part.users:
                row = part.users.index(user)
                return self.for_clicks([user], part.full()[row : row + 1], n)
        cfg = self.run.config.data
        raise DataError(
            f"user {user!r} is not among the {sum(len(data.split(s)) for s in ('train', 'validation', 'test'))} users of "
            f"{cfg.source} with {cfg.min_user_items} or more ratings >= {cfg.min_rating:g}; "
            "for someone else pass --items or --data ratings:FILE"
        )

    def for_file(self, path: str | Path, n: int, ignore_unknown: bool = False) -> tuple[list[Recommendation], int]:
        """Every user of a ratings file (clicks = ratings >= the run's data.min_rating), folded in.
        Returns the recommendations and how many users had no click on a known item (skipped)."""
        from vaekit.data.ratings import fold_in_matrix, read_ratings

        rows = read_ratings(path)
        users, clicks, unknown = fold_in_matrix(rows, self.run.config.data.min_rating, self.items)
        if unknown and not ignore_unknown:
            raise DataError(f"{path}: {_unknown(unknown)}; drop them, or pass --ignore-unknown to leave them out")
        keep = [j for j in range(len(users)) if clicks.indptr[j + 1] > clicks.indptr[j]]
        if not keep:
            raise DataError(
                f"{path}: no user has a rating >= {self.run.config.data.min_rating:g} on an item this model knows; nothing to fold in"
            )
        everyone = len(set(rows.users.tolist()))  # users whose ratings are all below min_rating are skipped too
        return self.for_clicks([users[j] for j in keep], clicks[keep], n), everyone - len(keep)


def _unknown(items: list[str]) -> str:
    shown = ", ".join(repr(i) for i in items[:SHOWN]) + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")
    return f"{len(items)} item id(s) the model never saw in training ({shown})"


def to_csv(recs: list[Recommendation]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["user", "rank", "item", "title", "score"])
    for r in recs:
        w.writerow([r.user, r.rank, r.item, r.title, f"{r.score:.6g}"])
    return buf.getvalue()
