"""`vaekit train`: flags map onto config keys; --set overrides anything."""

from __future__ import annotations

import argparse
import json
import re

from vaekit.errors import ConfigError
from vaekit.registry import LIKELIHOODS, Choices


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '1.5h' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not m:
        raise ConfigError(f"--max-time {text!r}: use seconds or a suffix s/m/h, e.g. 30m")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


_TRAIN_FLAGS = {  # flag dest -> config key
    "data": "data.source",
    "data_dir": "data.data_dir",
    "binarize": "data.binarize",
    "limit": "data.limit",
    "model": "model.arch",
    "latent_dim": "model.latent_dim",
    "likelihood": "model.likelihood",
    "epochs": "train.epochs",
    "batch_size": "train.batch_size",
    "lr": "train.lr",
    "beta": "train.beta",
    "threads": "train.threads",
    "device": "train.device",
    "seed": "seed",
}


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a VAE into a run directory")
    p.add_argument("--config", help="TOML/YAML/JSON config file")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. train.beta=4 (repeatable)"
    )
    p.add_argument("--out", help="run directory to create (default runs/<data>-<model>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    p.add_argument("--data", help="digits, mnist, fashion-mnist, binarized-mnist, folder:PATH, npz:PATH, csv:PATH, ratings:PATH")
    p.add_argument("--data-dir", help="where dataset files live (else $VAEKIT_DATA, system dirs, cache)")
    p.add_argument("--binarize", choices=["none", "dynamic", "static"])
    p.add_argument("--limit", type=int, help="use only the first N training examples")
    p.add_argument("--model", choices=["mlp", "conv", "resnet"])
    p.add_argument("--latent-dim", type=int)
    p.add_argument(
        "--likelihood", choices=Choices(LIKELIHOODS), metavar="NAME", help="a registered likelihood (model.likelihood)"
    )
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--beta", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", help="cpu (default), cuda, cuda:1, ...")
    p.add_argument("--devices", type=int, default=1, help="train with N local processes (DistributedDataParallel); see README")
    p.add_argument("--max-time", help="stop after this much training time, e.g. 30m")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(handler=_train)


def _train_overrides(args: argparse.Namespace) -> list[str]:
    overrides = [
        f"{key}={json.dumps(getattr(args, dest))}" for dest, key in _TRAIN_FLAGS.items() if getattr(args, dest) is not None
    ]
    if args.max_time is not None:
        overrides.append(f"train.max_time={parse_duration(args.max_time)}")
    if args.no_progress:
        overrides.append("train.progress=false")
    return overrides + list(args.set)


def _train(args: argparse.Namespace) -> int:
    from vaekit.config import RunConfig, apply_overrides, load_config
    from vaekit.training.loop import fit

    overrides = _train_overrides(args)
    if args.resume:
        if args.config or args.out:
            raise ConfigError("--resume continues an existing run: do not pass --config or --out with it")
        from vaekit.checkpoint import RunDir

        saved = RunDir(args.resume).config
        cfg = RunConfig.from_dict(apply_overrides(saved.to_dict(), overrides))
        out, resume = args.resume, True
    else:
        cfg = load_config(args.config, overrides)
        out = args.out or f"runs/{re.sub(r'[^A-Za-z0-9_.-]+', '_', cfg.data.source)}-{cfg.model.arch}"
        resume = False
    if args.devices > 1:
        from vaekit.checkpoint import RunDir
        from vaekit.runlock import claim_run_dir
        from vaekit.training.launch import launch

        with claim_run_dir(out, new=not resume, what=f"vaekit train --devices {args.devices}"):
            launch(cfg, out, args.devices, resume=resume)
        state = RunDir(out).train_state()
        print(
            f"{out}: {state['epoch']} epochs on {args.devices} processes ({state['stop_reason']}), best validation "
            f"{_best(cfg, state['best_val_elbo'], state.get('best_val_score'))} at epoch {state['best_epoch']}, {state['elapsed']:.1f} s"
        )
        _diagnose(out)
        return 0
    if args.devices < 1:
        raise ConfigError(f"--devices must be at least 1, got {args.devices}")
    run = fit(cfg, out, resume=resume)
    from vaekit.training.ddp import env_from_environment, shutdown

    shutdown()  # under torchrun: meet every rank, then leave the process group cleanly
    if not env_from_environment().is_main:
        return 0  # under torchrun, rank 0 reports
    p = run.progress
    print(
        f"{run.path}: {p.epoch} epochs ({p.stop_reason}), best validation {_best(run.config, p.best_val_elbo, p.best_val_score)} "
        f"at epoch {p.best_epoch}, {p.elapsed:.1f} s" + (f", {p.bad_steps} NaN/Inf steps skipped" if p.bad_steps else "")
    )
    _diagnose(run.path)
    return 0


def _diagnose(out) -> None:
    """Say so when the finished run's posterior collapsed (one line with remedies); never fails the command."""
    from vaekit.errors import VaekitError
    from vaekit.training.diagnosis import diagnose_run

    try:
        note = diagnose_run(out)
    except VaekitError:
        return
    if note:
        print(note)


def _best(cfg, best_val_elbo: float, best_val_score: float | None) -> str:
    """'ELBO -90.123 nats', the k-sample bound of a run that picked its best epoch by it, or the
    ranking metric that picked the best epoch of a ratings run."""
    from vaekit.training import best

    kind = "ratings" if cfg.data.source.lower().startswith("ratings:") else "dense"
    name = best.resolve_best_by(cfg.train, kind)
    if name == "elbo":
        return f"ELBO {best_val_elbo:.3f} nats"
    if name == "iwae":
        return f"IWAE bound (k = {best.iwae_samples(cfg.train)}) {best_val_score:.3f} nats"
    return f"{name} {best_val_score:.4f}"


def register(sub: argparse._SubParsersAction) -> None:
    _add_train(sub)
