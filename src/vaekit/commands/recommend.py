"""`vaekit recommend`: the top-n unseen items for a known user, a list of items, or a ratings file."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.errors import ConfigError


def _add_recommend(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="top-n items a ratings run recommends (clicked items excluded)")
    p.add_argument("run_dir", help="a run trained on ratings:PATH")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="a user id of the run's ratings file")
    who.add_argument("--items", help="a new user's clicked item ids, comma-separated, e.g. 50,172,133")
    who.add_argument("--data", metavar="ratings:FILE", help="every user of this ratings file (fold-in)")
    p.add_argument("-n", type=int, default=10, help="items per user (default 10)")
    p.add_argument("--out", help="write CSV (user,rank,item,title,score) here instead of printing a table")
    p.add_argument("--ignore-unknown", action="store_true", help="--data: leave out items the model never saw")
    p.add_argument("--data-dir", help="--user: where the run's ratings file lives, if it moved")
    p.add_argument("--which", choices=["best", "last"], default="best")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.set_defaults(handler=_recommend)


def _recommend(args: argparse.Namespace) -> int:
    import torch

    from vaekit.applications.recommend import Recommender, to_csv
    from vaekit.checkpoint import atomic_write_bytes

    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    rec = Recommender(args.run_dir, args.which)
    skipped = 0
    if args.user is not None:
        recs = rec.for_user(args.user.strip(), args.n, args.data_dir)
    elif args.items is not None:
        recs = rec.for_items(args.items.split(","), args.n)
    else:
        prefix, sep, path = args.data.partition(":")
        if not sep or prefix.lower() != "ratings" or not path.strip():
            raise ConfigError(f"--data {args.data!r}: give ratings:FILE, e.g. --data ratings:new_users.csv")
        recs, skipped = rec.for_file(path.strip(), args.n, args.ignore_unknown)
    if args.out:
        atomic_write_bytes(Path(args.out), to_csv(recs).encode())
        users = len({r.user for r in recs})
        print(f"wrote {len(recs)} recommendations for {users} user(s) to {args.out}")
    else:
        width = max((len(r.item) for r in recs), default=4)
        print(f"{'user':>8}  {'rank':>4}  {'item':>{width}}  {'score':>8}  title")
        for r in recs:
            print(f"{r.user:>8}  {r.rank:>4}  {r.item:>{width}}  {r.score:8.5f}  {r.title}")
    if skipped:
        print(f"skipped {skipped} user(s) with no rating >= {rec.run.config.data.min_rating:g} on an item the model knows")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_recommend(sub)
