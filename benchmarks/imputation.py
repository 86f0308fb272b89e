"""Imputation with a trained VAE against mean imputation and scikit-learn's KNNImputer.

1. MNIST: the bottom half of each test image removed; the error is the mean squared error over
   the missing pixels (pixels in [0, 1]). Every method sees the same masked images; KNNImputer and
   the mean are fitted on the training images (the run's training split).
2. Tables (scikit-learn's bundled datasets, nothing downloaded): 20% of the test entries missing at
   random (seeded, five masks); error = MSE over the missing entries in standardised units (the
   training split's mean and std), so predicting the column mean scores about 1.

vaekit's imputation is the conditional-mean estimate of a Markov chain: Hamiltonian Monte Carlo on
z (the default), Metropolis-within-Gibbs, or pseudo-Gibbs; see ``vaekit.applications.restoration``.
One chain per input; MwG and pseudo-Gibbs get twice the steps of HMC (they are cheaper per step).

    python benchmarks/imputation.py                 # train what is missing, evaluate, write the table
    python benchmarks/imputation.py --n-test 500    # a quicker run

Writes benchmarks/results/imputation.md.
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
RESULTS = ROOT / "benchmarks" / "results" / "imputation.md"
TABLES = ("breast_cancer", "wine", "diabetes")
MODELS: dict[str, str] = {}  # dataset -> the model that was used, for the results file


def train(out: Path, data: dict, model: dict, train_cfg: dict):
    from vaekit.checkpoint import RunDir
    from vaekit.config import RunConfig
    from vaekit.training.loop import fit

    if not ((out / "model.safetensors").is_file() and RunDir(out).train_state().get("finished")):
        t = {"batch_size": 128, "lr": 1e-3, "progress": False, "threads": 1, "tensorboard": False}
        t.update(train_cfg)
        cfg = RunConfig.from_dict({"data": data, "model": model, "train": t, "seed": 0})
        fit(cfg, out, resume=(out / "config.json").exists())
    run = RunDir(out)
    return run, float(run.train_state().get("elapsed") or 0.0)


def vaekit_fills(model, x, mask, steps: int) -> dict[str, tuple[torch.Tensor, float]]:
    from vaekit.applications.restoration import impute
    from vaekit.core.draws import make_generator

    out = {}
    for method, n_steps in (("hmc", steps), ("mwg", 2 * steps), ("pseudo-gibbs", 2 * steps)):
        start = time.time()
        r = impute(model, x, mask, method=method, steps=n_steps, generator=make_generator(1), batch_size=500)
        out[f"vaekit {method} ({n_steps} steps)"] = (r.x, time.time() - start)
    return out


def knn_fill(train_x: np.ndarray, x_missing: np.ndarray, k: int = 5) -> tuple[np.ndarray, float]:
    from sklearn.impute import KNNImputer

    start = time.time()
    filled = KNNImputer(n_neighbors=k).fit(train_x).transform(x_missing)
    return filled, time.time() - start


def mnist(runs: Path, n_test: int, epochs: int, steps: int) -> list[tuple[str, float, float]]:
    from vaekit.applications.masks import named_mask
    from vaekit.data import load_data

    data = {"source": "mnist", "data_dir": str(MNIST), "download": False}
    model_cfg = {"arch": "mlp", "hidden": [512, 256], "latent_dim": 32, "likelihood": "bernoulli"}
    run, secs = train(runs / "mnist_mlp", data, model_cfg, {"epochs": epochs})
    MODELS["mnist"] = f"MLP 784-512-256-32, Bernoulli, {epochs} epochs ({secs:.0f} s on one thread)"
    print(f"mnist model: {MODELS['mnist']}")
    model = run.load_model()
    splits = load_data(run.config.data)
    x = splits.test.x[:n_test]  # (N, 1, 28, 28)
    mask = named_mask("bottom-half", tuple(x.shape[1:]))[None].expand_as(x)  # True = observed
    missing = ~mask
    x_in = x.masked_fill(missing, float("nan"))
    rows = []

    def score(name: str, filled: torch.Tensor, secs: float) -> None:
        per_image = (filled - x).pow(2).masked_fill(mask, 0.0).flatten(1).sum(1) / missing.flatten(1).sum(1)  # (N,)
        se = float(per_image.std() / per_image.shape[0] ** 0.5)
        rows.append((f"{name} (± {se:.5f})", float(per_image.mean()), secs))

    for name, (filled, secs) in vaekit_fills(model, x_in, mask, steps).items():
        assert torch.equal(filled[mask], x[mask])
        score(name, filled, secs)
    score("mean of the training images", splits.train.x.mean(0, keepdim=True).expand_as(x), 0.0)
    filled, secs = knn_fill(splits.train.x.flatten(1).numpy(), x_in.flatten(1).numpy())
    score("KNNImputer (k=5)", torch.from_numpy(filled).float().reshape(x.shape), secs)
    return rows


def write_table_csv(path: Path, name: str) -> int:
    import sklearn.datasets as ds

    bunch = getattr(ds, f"load_{name}")()
    header = [f"f{i}" for i in range(bunch.data.shape[1])]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(bunch.data.tolist())
    return bunch.data.shape[1]


def table(runs: Path, name: str, epochs: int, steps: int, seeds: int = 5) -> list[tuple[str, float, float]]:
    from sklearn.impute import IterativeImputer  # noqa: F401 - needs the experimental import first

    from vaekit.applications.masks import random_mask
    from vaekit.core.draws import make_generator
    from vaekit.data import load_data

    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{name}.csv"
    d = write_table_csv(path, name)
    data = {"source": f"csv:{path}"}
    model_cfg = {"arch": "mlp", "hidden": [64, 64], "latent_dim": max(2, d // 3), "likelihood": "gaussian-learned"}
    run, secs = train(runs / f"{name}_mlp", data, model_cfg, {"epochs": epochs, "batch_size": 32, "lr": 1e-3})
    MODELS[name] = f"MLP {d}-64-64-{model_cfg['latent_dim']}, learned-scale Gaussian, {epochs} epochs ({secs:.0f} s)"
    print(f"{name}: {MODELS[name]}")
    model = run.load_model()
    splits = load_data(run.config.data)
    x, train_x = splits.test.x, splits.train.x.numpy()  # standardised with the training split's scaler
    errors: dict[str, list[float]] = {}
    times: dict[str, float] = {}

    def add(method: str, filled: torch.Tensor, missing: torch.Tensor, secs: float) -> None:
        errors.setdefault(method, []).append(float((filled - x)[missing].pow(2).mean()))
        times[method] = times.get(method, 0.0) + secs

    for seed in range(seeds):
        mask = random_mask(0.2, x.shape[0], tuple(x.shape[1:]), make_generator(seed))
        missing = ~mask
        x_in = x.masked_fill(missing, float("nan"))
        for method, (filled, secs) in vaekit_fills(model, x_in, mask, steps).items():
            add(method, filled, missing, secs)
        add("mean (training columns)", torch.zeros_like(x), missing, 0.0)
        filled, secs = knn_fill(train_x, x_in.numpy())
        add("KNNImputer (k=5)", torch.from_numpy(filled).float(), missing, secs)
        from sklearn.impute import IterativeImputer as Iterative

        start = time.time()
        filled = Iterative(max_iter=20, random_state=seed).fit(train_x).transform(x_in.numpy())
        add("IterativeImputer (BayesianRidge)", torch.from_numpy(filled).float(), missing, time.time() - start)
    return [(m, float(np.mean(v)), times[m]) for m, v in errors.items()]


def main() -> None:
    import sklearn.experimental.enable_iterative_imputer  # noqa: F401

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", default="/tmp/vaekit_bench/imputation", help="where the trained runs go")
    p.add_argument("--n-test", type=int, default=1000, help="MNIST test images (KNNImputer needs ~0.35 s each)")
    p.add_argument("--epochs", type=int, default=30, help="MNIST training epochs")
    p.add_argument("--table-epochs", type=int, default=300)
    p.add_argument("--steps", type=int, default=100, help="hmc steps (mwg and pseudo-gibbs get twice as many)")
    p.add_argument("--tables", default=",".join(TABLES), help="comma-separated; empty for none")
    p.add_argument("--no-mnist", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    runs = Path(args.runs)
    sections = []
    if MNIST.is_dir() and not args.no_mnist:
        rows = mnist(runs, args.n_test, args.epochs, args.steps)
        title = f"MNIST, bottom half missing (first {args.n_test} test images; MSE over missing pixels ± standard error)"
        sections.append((title, MODELS["mnist"], rows))
    for name in [t for t in args.tables.split(",") if t]:
        rows = table(runs, name, args.table_epochs, args.steps)
        title = f"{name}: 20% of test entries missing at random (MSE in standardised units, mean of 5 masks)"
        sections.append((title, MODELS[name], rows))
    lines = [
        "# Imputation",
        "",
        f"`python benchmarks/imputation.py --n-test {args.n_test} --epochs {args.epochs} --steps {args.steps}`",
        "",
    ]
    for title, model, rows in sections:
        print(f"\n{title}\nmodel: {model}\n{'method':45s} {'MSE':>9s} {'seconds':>8s}")
        lines += [f"## {title}", "", f"Model: {model}.", "", "| method | MSE | seconds |", "| --- | ---: | ---: |"]
        for name, mse, secs in rows:
            print(f"{name:45s} {mse:9.5f} {secs:8.1f}")
            lines.append(f"| {name} | {mse:.5f} | {secs:.1f} |")
        lines.append("")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"\nwrote {RESULTS}")


if __name__ == "__main__":
    main()
