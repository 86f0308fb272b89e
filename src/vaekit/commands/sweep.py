"""`vaekit sweep`: model selection on Optuna — start a sweep, continue it, or report on it."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from vaekit.errors import ConfigError, TrainingError

_EXAMPLES = """examples:
  vaekit sweep --config configs/mnist_fast.toml --space model.latent_dim=2..64:log --space train.beta=0.5..4 \\
      --trials 24 --jobs 2 --max-time 30m --select val_elbo --out sweeps/mnist
  vaekit sweep --resume sweeps/mnist --trials 40     # continue the same study (unfinished trials first)
  vaekit sweep --report sweeps/mnist                 # table, objective.png and best.toml
"""


def _add_sweep(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sweep",
        help="search hyper-parameters with Optuna: each trial is a run directory; report and best.toml",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--resume", metavar="SWEEP_DIR", help="continue the sweep in SWEEP_DIR")
    mode.add_argument("--report", metavar="SWEEP_DIR", help="only write the report of the sweep in SWEEP_DIR")
    p.add_argument("--config", help="the config every trial starts from (TOML/YAML/JSON)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a key of the base config (repeatable)"
    )
    p.add_argument("--data", help="data source of the base config (as vaekit train --data)")
    p.add_argument("--data-dir", help="where dataset files live")
    p.add_argument("--epochs", type=int, help="epochs per trial (train.epochs)")
    p.add_argument(
        "--space", action="append", default=[], metavar="KEY=SPEC",
        help="a parameter: KEY=LOW..HIGH (a range; :log for log-uniform) or KEY=A,B,C (choices); repeatable",
    )  # fmt: skip
    p.add_argument("--trials", type=int, help="trials in the study in all (default 20; a grid's size with --sampler grid)")
    p.add_argument(
        "--jobs", type=int, default=1, help="trials run in parallel, each in its own process with its share of the cores"
    )
    p.add_argument(
        "--max-time", help="stop starting trials, and pause running ones, after this long (e.g. 30m); --resume continues"
    )
    p.add_argument(
        "--select",
        default="val_elbo",
        choices=["val_elbo", "val_nll", "probe", "auroc"],
        help="criterion, on the validation split",
    )
    p.add_argument("--sampler", default="tpe", choices=["tpe", "grid"], help="Optuna's TPE, or every combination of a grid")
    p.add_argument(
        "--pruner",
        default="median",
        choices=["median", "hyperband", "none"],
        help="stop poor trials early on the validation ELBO",
    )
    p.add_argument("--grid-points", type=int, default=3, help="grid sampler: values per range (default 3)")
    p.add_argument(
        "--prune-startup", type=int, default=3, help="median pruner: trials that finish before any is pruned (default 3)"
    )
    p.add_argument("--prune-warmup", type=int, default=1, help="epochs of each trial that are never pruned (default 1)")
    p.add_argument("--k", type=int, default=20, help="importance samples of --select val_nll (default 20)")
    p.add_argument("--anomaly-score", default="elbo", choices=["elbo", "recon", "latent"], help="score of --select auroc")
    p.add_argument("--components", type=int, default=20, help="mixture components of --anomaly-score latent (default 20)")
    p.add_argument("--seed", type=int, default=0, help="the sampler's seed")
    p.add_argument("--out", help="sweep directory to create (default sweeps/<data>-<model>)")
    p.set_defaults(handler=_sweep)


def _base_config(args: argparse.Namespace) -> dict:
    from vaekit.config import RunConfig, apply_overrides, read_config_file

    raw = read_config_file(args.config) if args.config else {}
    overrides = [f"{key}={json.dumps(v)}" for key, v in (("data.source", args.data), ("data.data_dir", args.data_dir),
                                                          ("train.epochs", args.epochs)) if v is not None]  # fmt: skip
    raw = apply_overrides(raw, overrides + list(args.set))
    RunConfig.from_dict(raw, where=str(args.config) if args.config else "config")  # errors now, not in every trial
    return raw


def _sweep(args: argparse.Namespace) -> int:
    from vaekit.commands.train import parse_duration
    from vaekit.sweep import SweepSpec, run_sweep, start_sweep, write_report

    if args.report:
        print(write_report(args.report))
        return 0
    max_time = parse_duration(args.max_time) if args.max_time is not None else None
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.resume:
        given = [f for f in ("config", "data", "data_dir", "epochs", "out") if getattr(args, f) is not None] + (
            ["set"] if args.set else []
        )
        if given or args.space:
            raise ConfigError("--resume continues a sweep as it was defined: pass only --trials, --jobs or --max-time with it")
        path = Path(args.resume)
    else:
        if not args.space:
            raise ConfigError("say what to search: --space KEY=LOW..HIGH[:log] or --space KEY=A,B,C (repeatable)")
        base = _base_config(args)
        source = str(base.get("data", {}).get("source", "digits")).replace(":", "_").replace("/", "_")
        path = Path(args.out or f"sweeps/{source}-{base.get('model', {}).get('arch', 'mlp')}")
        spec = SweepSpec(
            base=base, space=tuple(args.space), trials=args.trials or 20, select=args.select, sampler=args.sampler, pruner=args.pruner,
            grid_points=args.grid_points, prune_startup=args.prune_startup, prune_warmup=args.prune_warmup, k=args.k,
            anomaly_score=args.anomaly_score, components=args.components, seed=args.seed,
        )  # fmt: skip
        if args.sampler == "grid" and args.trials is None:
            spec = dataclasses.replace(spec, trials=spec.check().grid_size())
        start_sweep(path, spec)
    try:
        run_sweep(path, trials=args.trials if args.resume else None, jobs=args.jobs, max_time=max_time)
    except KeyboardInterrupt:
        raise TrainingError(
            f"interrupted; running trials are checkpointed: continue with 'vaekit sweep --resume {path}'"
        ) from None
    print(write_report(path))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_sweep(sub)
