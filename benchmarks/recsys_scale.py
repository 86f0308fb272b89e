"""Memory of an ML-20M-sized ratings run: 138,493 users x 26,744 items, ~20M clicks, held sparse.

Writes a synthetic ratings file of that size (Zipf item popularity, heavy-tailed user activity, every
user with at least 5 clicks) to a temporary folder, loads it through ``ratings:PATH`` as training
does (parse, clicks, strong-generalisation split with 10,000 validation and 10,000 test users),
builds Mult-VAE (600-200, multinomial) and runs ``--steps`` training steps of the real objective on
sparse batches of 500 users, then the validation ranking pass (NDCG@100 over 10,000 users), and
reports peak resident memory after each stage. An epoch repeats the same step, so memory does not
grow past what the steps show; seconds per step give the epoch time. The dense user x item matrix
(float32) would take 14.8 GB on its own.

    python benchmarks/recsys_scale.py --steps 20 --threads 1          # writes the file, prints its path
    python benchmarks/recsys_scale.py --steps 20 --threads 1 --file PATH --md benchmarks/results/recsys_scale.md

The second run measures in a fresh process, so the memory the writer used is not counted.
"""

from __future__ import annotations

import argparse
import math
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vaekit.config import load_config  # noqa: E402
from vaekit.core import build_model  # noqa: E402
from vaekit.data import load_data  # noqa: E402
from vaekit.data.batches import SparseBatches, SparseChunks  # noqa: E402
from vaekit.training.ddp import DistEnv  # noqa: E402
from vaekit.training.loop import make_optimizer  # noqa: E402
from vaekit.training.objectives import make_objective  # noqa: E402
from vaekit.training.recsys import validation_ranking  # noqa: E402

USERS, ITEMS, CLICKS = 138_493, 26_744, 20_000_000


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # Linux: kilobytes


def write_file(path: Path, seed: int = 0) -> int:
    """u.data layout (user, item, rating 5), one line per distinct click; returns the number of lines."""
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.2, USERS) + 1.0  # heavy-tailed user activity
    counts = np.clip(np.round(activity / activity.sum() * CLICKS * 1.45), 5, ITEMS // 4).astype(np.int64)
    popularity = 1.0 / np.arange(1, ITEMS + 1) ** 0.8  # Zipf item popularity
    users = np.repeat(np.arange(USERS, dtype=np.int64), counts)
    items = rng.choice(ITEMS, size=len(users), p=popularity / popularity.sum())
    key = np.unique(users * ITEMS + items)  # a repeated draw is one click
    del users, items
    with open(path, "w") as f:
        for s in range(0, len(key), 1_000_000):
            block = key[s : s + 1_000_000]
            users, items = (block // ITEMS + 1).tolist(), (block % ITEMS + 1).tolist()
            f.write("".join(f"{u}\t{i}\t5\n" for u, i in zip(users, items)))
    return len(key)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--file", help="reuse this synthetic file instead of writing one")
    ap.add_argument("--md", help="also write the report here (benchmarks/results/recsys_scale.md)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    report: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        report.append(f"- {text}")

    folder = Path(tempfile.mkdtemp(prefix="vaekit-ml20m-"))
    path = Path(args.file) if args.file else folder / "u.data"
    if not args.file:
        started = time.perf_counter()
        rows = write_file(path)
        say(f"wrote {rows:,} rows ({path.stat().st_size / 1e9:.2f} GB) to {path} in {time.perf_counter() - started:.0f} s")
    base = peak_gb()
    cfg = load_config(
        ROOT / "configs" / "ml100k_multvae.toml",
        [f'data.source="ratings:{path}"', "data.heldout_users=10000", "train.batch_size=500", "train.eval_batch_size=1000"],
    )
    started = time.perf_counter()
    data = load_data(cfg.data)
    n_items = data.shape[0]
    say(
        f"loaded: {len(data.train):,} training users, {len(data.validation):,} + {len(data.test):,} held out, "
        f"{n_items:,} items, {data.train.x.nnz:,} training clicks in {time.perf_counter() - started:.0f} s; "
        f"peak RSS {peak_gb():.2f} GB (dense float32 matrix: {len(data.train) * n_items * 4 / 1e9:.1f} GB)"
    )
    model = build_model(cfg.model, data.shape)
    optimizer = make_optimizer(model, cfg.train)
    batches = SparseBatches(data.train.x, cfg.train.batch_size)
    steps_per_epoch = math.ceil(batches.n / cfg.train.batch_size)
    objective = make_objective(cfg.train, model, steps_per_epoch=steps_per_epoch, dataset_size=batches.n)
    gen, noise = torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)
    model.train()
    started = time.perf_counter()
    for step, (x, _, size) in enumerate(batches.epoch(gen)):
        if step == args.steps:
            break
        eps = torch.randn(size, model.latent_dim, generator=noise)
        terms = objective(model, x, eps=eps, loss_scale=1.0, mask=None, condition=None, step=step)
        optimizer.zero_grad(set_to_none=True)
        terms.loss.backward()
        optimizer.step()
    per_step = (time.perf_counter() - started) / args.steps
    say(
        f"{args.steps} training steps of {cfg.train.batch_size} users: {per_step:.2f} s/step "
        f"(an epoch of {steps_per_epoch} steps: ~{per_step * steps_per_epoch / 60:.0f} min); peak RSS {peak_gb():.2f} GB"
    )
    model.eval()
    started = time.perf_counter()
    chunks = SparseChunks(data.validation.x, data.validation.heldout, cfg.train.eval_batch_size)
    ndcg = validation_ranking(model, chunks, "ndcg@100", DistEnv())["ndcg@100"]
    say(
        f"validation ranking over {len(data.validation):,} users: {time.perf_counter() - started:.0f} s "
        f"(NDCG@100 {ndcg:.3f} after {args.steps} steps); peak RSS {peak_gb():.2f} GB (before loading: {base:.2f} GB)"
    )
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")), "?"
    )
    say(f"{cpu}, {args.threads} thread(s), torch {torch.__version__}; peak RSS is the process's high-water mark (ru_maxrss)")
    if args.md:
        Path(args.md).write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
