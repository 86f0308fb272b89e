"""The recipe benchmark: train configs/mnist_best.toml on dynamically binarised MNIST within its
time budget (train.max_time, the trainer's own clock), then measure the test NLL with k=5000
importance samples; and time one training epoch of every config under configs/.

    python benchmarks/mnist_best.py                          # train, evaluate, time the configs
    python benchmarks/mnist_best.py --run runs/bench/mnist_best --skip-train   # evaluate an existing run
    python benchmarks/mnist_best.py --only-configs           # just the one-epoch table

Writes benchmarks/results/mnist_best.md and benchmarks/results/config_epochs.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from vaekit.checkpoint import RunDir  # noqa: E402
from vaekit.config import load_config  # noqa: E402
from vaekit.data import dynamic_binarize, load_data  # noqa: E402
from vaekit.hardware import describe  # noqa: E402
from vaekit.training.loop import fit  # noqa: E402

PUBLISHED = [
    ("VAE, 1 stochastic layer (Burda et al. 2015)", "86.76"),
    ("VAE, 2 stochastic layers (Burda et al. 2015)", "85.33"),
    ("IWAE k=5, 2 stochastic layers (Burda et al. 2015; 3,280 passes on a GPU)", "83.89"),
    ("IWAE k=50, 2 stochastic layers (Burda et al. 2015; 3,280 passes on a GPU)", "82.90"),
]
SHARED_NOTE = (
    "The machine's 2 cores are shared with other engineers' benchmarks and tests, so these times are "
    "pessimistic and depend on the load while they ran."
)


def iwae_test_nll(model, x: torch.Tensor, k: int, seed: int):
    """-log p(x) by k importance samples: vaekit.evaluation's iwae_nll when present, else chunked here."""
    try:
        from vaekit.evaluation.likelihood import iwae_nll
    except ImportError:
        iwae_nll = None
    if iwae_nll is not None:
        r = iwae_nll(model, x, k, generator=torch.Generator().manual_seed(seed))
        return r.mean, r.stderr, r.per_example
    from vaekit.core.elbo import iwae_log_weights

    torch.manual_seed(seed)
    out = []
    with torch.inference_mode():
        for i in range(0, x.shape[0], 8):
            xb = x[i : i + 8]
            acc = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64)
            for _ in range(0, k, 1000):
                acc = torch.logaddexp(acc, torch.logsumexp(iwae_log_weights(model, xb, 1000).double(), 0))
            out.append(-(acc - math.log(k)))
    per = torch.cat(out)
    return float(per.mean()), float(per.std() / math.sqrt(per.shape[0])), per


def train_recipe(config: Path, out: Path, data_dir: str, threads: int) -> None:
    torch.set_num_threads(threads)
    cfg = load_config(config, [f'data.data_dir="{data_dir}"', "train.progress=false", "train.tensorboard=false"])
    if (out / "config.json").exists():
        fit(None, out, resume=True)  # continue (or return at once if it finished)
    else:
        fit(cfg, out)


def evaluate_recipe(out: Path, k: int, test_limit: int | None, seed: int, threads: int) -> dict:
    torch.set_num_threads(threads)
    run = RunDir(out)
    model = run.load_model("best")
    data = load_data(dataclasses.replace(run.config.data, limit=None))
    x = data.test.x[:test_limit]
    x = dynamic_binarize(x, torch.Generator().manual_seed(seed))  # one fixed binarisation of the test set
    started = time.perf_counter()
    nll, stderr, _ = iwae_test_nll(model, x, k, seed)
    state, history = run.train_state(), run.metrics()
    return {
        "nll": nll,
        "stderr": stderr,
        "k": k,
        "n_test": int(x.shape[0]),
        "eval_seconds": time.perf_counter() - started,
        "train_seconds": state.get("elapsed"),
        "epochs": state.get("epoch"),
        "best_epoch": state.get("best_epoch"),
        "best_val_elbo": state.get("best_val_elbo"),
        "stop_reason": state.get("stop_reason"),
        "epoch_seconds_median": sorted(r["epoch_seconds"] for r in history)[len(history) // 2] if history else None,
        "config": run.config.to_dict(),
        "machine": run.info.machine,  # the CPU it trained on (empty for runs from before it was recorded)
    }


def write_recipe_md(result: dict, path: Path, config: Path) -> str:
    r = result
    lines = [
        "# The recipe: configs/mnist_best.toml on dynamically binarised MNIST",
        "",
        f"Test NLL **{r['nll']:.2f} ± {r['stderr']:.2f} nats** (k = {r['k']} importance samples, "
        f"{r['n_test']:,} test images binarised once with a fixed seed; ± is the standard error across images).",
        "",
        "| | |",
        "| --- | --- |",
        f"| training time (trainer's clock, train + validation) | {r['train_seconds']:.0f} s |",
        f"| epochs | {r['epochs']} ({r['stop_reason']}) |",
        f"| median epoch time | {r['epoch_seconds_median']:.1f} s |",
        f"| best validation ELBO (k=1) | {r['best_val_elbo']:.2f} nats at epoch {r['best_epoch']} |",
        f"| NLL evaluation time | {r['eval_seconds']:.0f} s |",
        "",
        "Published test NLL on dynamically binarised MNIST (k = 5000):",
        "",
        "| model | NLL (nats) |",
        "| --- | --- |",
        *[f"| {name} | {v} |" for name, v in PUBLISHED],
        f"| vaekit {config.name} (this run) | {r['nll']:.2f} ± {r['stderr']:.2f} |",
        "",
        SHARED_NOTE + " The trainer was given one thread (torch.set_num_threads(1)).",
        "",
        f"CPU (where it trained): {describe(r.get('machine') or None)}.",
        "",
        "Settings: `" + json.dumps(r["config"]["model"]) + "`, `" + json.dumps(r["config"]["train"]) + "`",
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def time_config_epochs(data_dir: str, threads: int, path: Path) -> str:
    """One epoch of every config on its full training split (synthetic stand-in where its data is missing)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_configs import CONFIGS, synthetic  # the same stand-in data as the config test

    torch.set_num_threads(threads)
    rows = []
    for cfg_path in CONFIGS:
        cfg = load_config(cfg_path, ["train.epochs=1", "train.progress=false", "train.tensorboard=false", "train.max_time=none",
                                     f"train.threads={threads}", "train.early_stopping=none"])  # fmt: skip
        source = cfg.data.source
        if source.startswith("folder:") and not Path(source[7:]).is_absolute():
            source = "folder:" + str((ROOT / source[7:]).resolve())
        data_cfg = dataclasses.replace(cfg.data, source=source, data_dir=data_dir if source == "mnist" else cfg.data.data_dir)
        try:
            data, what = load_data(data_cfg), source.split("/")[-1]
        except Exception:
            data, what = synthetic(cfg), "synthetic stand-in"
        with tempfile.TemporaryDirectory() as d:
            run = fit(cfg, Path(d) / "r", data=data)
        h = run.history[0]
        rows.append((cfg_path.name, what, len(data.train), h["train_seconds"], h["epoch_seconds"]))
        print(f"{cfg_path.name:28s} {h['train_seconds']:8.1f} s", flush=True)
    lines = [
        f"# One training epoch of every config ({threads} thread{'s' if threads > 1 else ''}, torch {torch.__version__})",
        "",
        f"CPU: {describe()}.",
        "",
        SHARED_NOTE,
        "",
        "| config | data | training examples | train seconds (optimisation loop) | epoch seconds (with validation) |",
        "| --- | --- | --- | --- | --- |",
        *[f"| {n} | {w} | {k:,} | {t:.1f} | {e:.1f} |" for n, w, k, t, e in rows],
        "",
    ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "configs" / "mnist_best.toml"))
    ap.add_argument("--run", default=str(ROOT / "runs" / "bench" / "mnist_best"), help="run directory of the recipe")
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data" / "mnist"))
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--test-limit", type=int, default=None, help="evaluate the first N test images only")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-configs", action="store_true")
    ap.add_argument("--only-configs", action="store_true")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    if not args.only_configs:
        out = Path(args.run)
        if not args.skip_train:
            train_recipe(Path(args.config), out, args.data_dir, args.threads)
        result = evaluate_recipe(out, args.k, args.test_limit, args.seed, args.threads)
        (out / "test_nll.json").write_text(json.dumps(result, indent=2))  # beside the run, for the record
        print(write_recipe_md(result, results / "mnist_best.md", Path(args.config)))
    if not args.skip_configs:
        print(time_config_epochs(args.data_dir, args.threads, results / "config_epochs.md"))


if __name__ == "__main__":
    main()
