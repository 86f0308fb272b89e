"""Recommendation on MovieLens-100k, Liang et al.'s strong-generalisation protocol, every model on the
same splits in one run: popularity, EASE (Steck 2019, closed form, lambda chosen on validation),
vaekit's Mult-DAE and Mult-VAE (configs/ml100k_multvae.toml), and cornac's VAECF as a library peer
when cornac is installed (pip install cornac; it runs on the same torch).

Each split (data.seed = 0, 1, ...) holds out 150 validation and 150 test users; 20% of each
held-out user's clicks (ratings >= 4) are scored, the rest folded in. Test Recall@20, Recall@50 and
NDCG@100 are averaged over the test users of a split; the table gives the mean over splits ± its
standard error, and VAE - EASE paired by split. Seconds per epoch are the training loop alone.

    python benchmarks/recsys.py --splits 5 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from vaekit.checkpoint import RunDir  # noqa: E402
from vaekit.config import load_config  # noqa: E402
from vaekit.data import load_data  # noqa: E402
from vaekit.data.batches import dense_rows  # noqa: E402
from vaekit.evaluation.ranking import RANKING_METRICS, metric  # noqa: E402
from vaekit.evaluation.runner import evaluate_ratings_run  # noqa: E402
from vaekit.training.loop import fit  # noqa: E402

CONFIG = ROOT / "configs" / "ml100k_multvae.toml"
LAMBDAS = (10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0)


def find_data() -> Path:
    for base in (ROOT.parent / "shared", Path("/work/shared")):
        p = base / "data" / "ml-100k" / "u.data"
        if p.is_file():
            return p
    sys.exit("MovieLens-100k not found under ../shared/data/ml-100k or /work/shared/data/ml-100k")


def score_split(scores_fn, part, names=RANKING_METRICS) -> dict[str, float]:
    """Mean over the split's users of each metric; scores_fn(fold_in (b, I)) -> (b, I) scores."""
    n = len(part)
    fold, held = dense_rows(part.x, range(n)), dense_rows(part.heldout, range(n))
    scores = scores_fn(fold).masked_fill(fold > 0, -math.inf)
    return {m: float(metric(m, scores, held).mean()) for m in names}


def ease(train, lam: float) -> torch.Tensor:
    """Steck's EASE: B = I - P diagMat(1 / diag P), P = (X'X + lambda I)^-1, diagonal forced to 0. (I, I)."""
    x = torch.from_numpy(train.toarray()).double()
    p = torch.linalg.inv(x.T @ x + lam * torch.eye(x.shape[1], dtype=torch.float64))
    b = -p / torch.diag(p)
    b.fill_diagonal_(0.0)
    return b.float()


def vaekit_run(cfg, out: Path) -> tuple[dict[str, float], float, int]:
    fit(cfg, out, figures=False)
    r = evaluate_ratings_run(RunDir(out), "test", out=out / "eval.json")
    run = RunDir(out)
    seconds = float(np.mean([row["train_seconds"] for row in run.metrics()]))
    return {m: r.summary[m] for m in RANKING_METRICS}, seconds, run.train_state()["best_epoch"]


def cornac_peer(data, epochs: int, cfg, seed: int) -> tuple[dict[str, float], dict[str, float], float]:
    """cornac's VAECF with Mult-VAE's shape (600-200 tanh, multinomial, beta 0.2, Adam 1e-3, same batch size),
    trained on the same users; held-out users are folded in through its own encoder (posterior mean)."""
    import cornac

    train = data.train.x.tocoo()
    triplets = [(str(u), str(i), 1.0) for u, i in zip(train.row.tolist(), train.col.tolist())]
    ds = cornac.data.Dataset.from_uir(triplets, seed=seed)
    order = np.asarray([ds.iid_map[str(j)] for j in range(data.shape[0])])  # our column j -> cornac's index
    m = cfg.model
    model = cornac.models.VAECF(k=m.latent_dim, autoencoder_structure=list(m.hidden), act_fn=m.activation, likelihood="mult",
                                n_epochs=epochs, batch_size=cfg.train.batch_size, learning_rate=cfg.train.lr,
                                beta=cfg.train.beta, seed=seed)  # fmt: skip
    started = time.perf_counter()
    model.fit(ds)
    per_epoch = (time.perf_counter() - started) / epochs

    def scores(fold: torch.Tensor) -> torch.Tensor:
        x = torch.zeros_like(fold)
        x[:, order] = fold  # cornac's column order
        with torch.no_grad():
            mu, _ = model.vae.encode(x)
            out = model.vae.decode(mu)
        return out[:, order]  # back to ours

    return score_split(scores, data.validation), score_split(scores, data.test), per_epoch


def fmt(values: list[float]) -> str:
    a = np.asarray(values)
    se = a.std(ddof=1) / math.sqrt(len(a)) if len(a) > 1 else 0.0
    return f"{a.mean():.3f} ± {se:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, help="override train.epochs of the Mult-VAE/DAE config")
    ap.add_argument("--peer-epochs", default="50,100,200", help="cornac VAECF: epochs tried, chosen on validation NDCG@100")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--set", action="append", default=[], help="extra config overrides for Mult-VAE and Mult-DAE")
    ap.add_argument("--json", help="write the per-split results here")
    ap.add_argument("--md", help="write the markdown table here (benchmarks/results/recsys.md)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = find_data()
    try:
        import cornac  # noqa: F401

        peer = not args.no_peer
    except ImportError:
        peer = False
    base = [f"data.source=\"ratings:{path}\"", f"train.threads={args.threads}", "train.progress=false",
            "train.tensorboard=false", *args.set] + ([f"train.epochs={args.epochs}"] if args.epochs else [])  # fmt: skip
    results: dict[str, list[dict]] = {}
    work = Path(tempfile.mkdtemp(prefix="vaekit-recsys-"))
    for s in range(args.splits):
        cfg = load_config(CONFIG, [*base, f"data.seed={s}", f"seed={s}"])
        data = load_data(cfg.data)
        x = data.train.x
        pop = torch.from_numpy(np.asarray(x.sum(0)).ravel()).float()
        results.setdefault("popularity", []).append(score_split(lambda f, p=pop: p.expand(f.shape[0], -1), data.test))
        started = time.perf_counter()
        best = max(LAMBDAS, key=lambda lam: score_split(lambda f, b=ease(x, lam): f @ b, data.validation)["ndcg@100"])
        b = ease(x, best)
        results.setdefault("EASE", []).append({**score_split(lambda f, b=b: f @ b, data.test), "lambda": best,
                                               "seconds": time.perf_counter() - started})  # fmt: skip
        for name, extra in (("vaekit Mult-DAE", ['train.objective="dae"', "train.beta=0.0"]), ("vaekit Mult-VAE", [])):
            run_cfg = load_config(CONFIG, [*base, f"data.seed={s}", f"seed={s}", *extra])
            test, sec, best_epoch = vaekit_run(run_cfg, work / f"{name.split()[-1]}-{s}")
            results.setdefault(name, []).append({**test, "sec_per_epoch": sec, "best_epoch": best_epoch})
        if peer:
            tried = []
            for e in (int(v) for v in args.peer_epochs.split(",")):
                val, test, sec = cornac_peer(data, e, cfg, s)
                tried.append((val["ndcg@100"], e, test, sec))
            _, e, test, sec = max(tried, key=lambda t: t[0])
            results.setdefault("cornac VAECF (peer)", []).append({**test, "sec_per_epoch": sec, "epochs": e})
        print(f"split {s}: " + ", ".join(f"{k} {v[-1]['ndcg@100']:.3f}" for k, v in results.items()), file=sys.stderr, flush=True)

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")),
        platform.processor(),
    )
    lines = [
        f"MovieLens-100k (ratings >= 4 are clicks; {len(data.items)} items clicked by training users in split {args.splits - 1}), "
        f"{args.splits} random splits x (150 validation + 150 test users held out; 20% of each one's clicks scored); "
        f"test metrics, mean over splits ± standard error; {cpu}, {args.threads} thread(s), torch {torch.__version__}, commit {commit}.",
        "",
        "| model | Recall@20 | Recall@50 | NDCG@100 | s / epoch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rows in results.items():
        sec = f"{np.mean([r['sec_per_epoch'] for r in rows]):.3f}" if "sec_per_epoch" in rows[0] else "-"
        lines.append(f"| {name} | " + " | ".join(fmt([r[m] for r in rows]) for m in RANKING_METRICS) + f" | {sec} |")
    lines.append("")
    for other in ("EASE", "cornac VAECF (peer)", "vaekit Mult-DAE"):
        if other in results and "vaekit Mult-VAE" in results:
            diff = [v["ndcg@100"] - e["ndcg@100"] for v, e in zip(results["vaekit Mult-VAE"], results[other])]
            lines.append(f"- Mult-VAE minus {other}, NDCG@100 paired by split: {fmt(diff)}")
    lines.append(
        "- EASE lambda chosen on validation NDCG@100, per split: " + ", ".join(f"{r['lambda']:g}" for r in results["EASE"])
    )
    if "cornac VAECF (peer)" in results:
        lines.append("- cornac VAECF epochs chosen on validation NDCG@100 from {" + args.peer_epochs + "}, per split: "
                     + ", ".join(str(r["epochs"]) for r in results["cornac VAECF (peer)"]))  # fmt: skip
    for k, v in results.items():
        if k.startswith("vaekit"):
            lines.append(f"- {k} best epoch (validation NDCG@100) per split: " + ", ".join(str(r["best_epoch"]) for r in v))
    text = "\n".join(lines)
    print(text)
    if args.md:
        Path(args.md).write_text(text + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
