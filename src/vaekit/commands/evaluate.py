"""`vaekit evaluate` (score a run, write eval.json) and `vaekit compare` (rank runs on a metric)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.commands.limits import positive_int, seed
from vaekit.errors import ConfigError

_METRIC_HELP = (
    "comma-separated: nll, elbo, recon, active-units, mi, fd, probe, or all (default nll,elbo,recon,active-units,mi); "
    "ratings runs: recall@K, ndcg@K (default recall@20,recall@50,ndcg@100)"
)


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score a trained model on a split; writes eval.json and prints a table")
    p.add_argument("run_dir")
    p.add_argument("--split", default="test", help="train, validation or test (default test)")
    p.add_argument("--metrics", help=_METRIC_HELP)
    p.add_argument("--iw-samples", "-k", dest="k", type=int, default=1000, help="importance samples for nll (papers: 5000)")
    p.add_argument("--seed", type=seed, default=0, help="seeds every Monte Carlo draw")
    p.add_argument("--data", help="data source (default: the run's own)")
    p.add_argument("--data-dir", help="where the source's files live")
    p.add_argument("--which", choices=["best", "last"], default="best", help="best (validation ELBO) or last weights")
    p.add_argument("--batch-size", type=int, default=1000, help="examples per pass for the non-IWAE metrics")
    p.add_argument("--iw-batch-size", type=positive_int, help="examples per IWAE pass (default: ~4096 decoder rows per pass)")
    p.add_argument("--k-chunk", type=int, help="importance samples per IWAE pass (default: min(k, 4096))")
    p.add_argument("--binarize-seed", type=seed, help="dynamically binarised runs: seed of the fixed test binarisation")
    p.add_argument("--samples", type=positive_int, help="generated examples for fd (default: as many as the split)")
    p.add_argument("--sample-mode", choices=["auto", "mean", "draw"], default="auto", help="fd: mean of p(x|z) or a draw")
    p.add_argument("--cache-dir", help="where fd feature extractors are cached (default ~/.cache/vaekit/extractors)")
    p.add_argument("--probe-max-train", type=positive_int, help="fit the probe on at most this many training examples")
    p.add_argument("--threads", type=int, help="torch intra-op threads")
    p.add_argument("--out", help="report file (default RUN_DIR/eval.json)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(handler=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    import json

    import torch

    from vaekit.evaluation import evaluate_run, format_table
    from vaekit.evaluation.report import EVAL_FILE, read_eval_json

    if args.k < 1:
        raise ConfigError(f"--iw-samples must be at least 1, got {args.k}")
    if args.threads is not None:
        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    out = Path(args.out) if args.out else Path(args.run_dir) / EVAL_FILE
    evaluate_run(
        args.run_dir,
        args.split,
        args.metrics,
        data=args.data,
        data_dir=args.data_dir,
        which=args.which,
        binarize_seed=args.binarize_seed,
        out=out,
        k=args.k,
        seed=args.seed,
        batch_size=args.batch_size,
        iw_batch_size=args.iw_batch_size,
        k_chunk=args.k_chunk,
        n_generated=args.samples,
        sample_mode=args.sample_mode,
        cache_dir=args.cache_dir,
        probe_max_train=args.probe_max_train,
        progress=True,
    )
    written = read_eval_json(out)
    print(json.dumps(written, indent=2) if args.json else format_table(written))
    if not args.json:
        print(f"wrote {out}")
    return 0


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="rank several evaluated runs on one metric")
    p.add_argument("runs", nargs="+", help="run directories (or eval.json files)")
    p.add_argument("--sort", help="metric to rank on, e.g. nll, elbo, fd, ssim (default nll)")
    p.add_argument("--order", choices=["lower", "higher"], help="which is better (default: the metric's own)")
    p.add_argument("--format", choices=["table", "markdown", "csv"], default="table")
    p.add_argument("--file", default="eval.json", help="report file name inside each run directory")
    p.add_argument("--out", help="write the table to this file instead of printing it")
    p.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from vaekit.checkpoint import atomic_write_bytes
    from vaekit.evaluation import compare_runs, format_comparison

    text = format_comparison(compare_runs(args.runs, args.sort, args.order, args.file), args.format)
    if args.out:
        atomic_write_bytes(Path(args.out), text.encode())
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_evaluate(sub)
    _add_compare(sub)
