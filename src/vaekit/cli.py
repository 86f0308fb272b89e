"""``vaekit`` command line: thin subcommands over training, checkpoint and applications.

``main(argv)`` is testable in-process. Heavy imports (torch) happen inside the commands so
``vaekit --help`` stays fast. A VaekitError prints one line and exits 1, no traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

from vaekit.errors import ConfigError, VaekitError

Handler = Callable[[argparse.Namespace], int]


def parse_duration(text: str) -> float:
    """'90', '90s', '30m', '1.5h' -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smh]?)\s*", text)
    if not m:
        raise ConfigError(f"--max-time {text!r}: use seconds or a suffix s/m/h, e.g. 30m")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)]


# ------------------------------------------------------------------------------------- train

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
    p.add_argument("--data", help="digits, mnist, fashion-mnist, binarized-mnist, folder:PATH, npz:PATH, csv:PATH")
    p.add_argument("--data-dir", help="where dataset files live (else $VAEKIT_DATA, system dirs, cache)")
    p.add_argument("--binarize", choices=["none", "dynamic", "static"])
    p.add_argument("--limit", type=int, help="use only the first N training examples")
    p.add_argument("--model", choices=["mlp", "conv"])
    p.add_argument("--latent-dim", type=int)
    p.add_argument("--likelihood", choices=["bernoulli", "gaussian", "gaussian-learned", "laplace", "dlogistic"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--beta", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--device")
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
        run = fit(cfg, args.resume, resume=True)
    else:
        cfg = load_config(args.config, overrides)
        out = args.out or f"runs/{re.sub(r'[^A-Za-z0-9_.-]+', '_', cfg.data.source)}-{cfg.model.arch}"
        run = fit(cfg, out)
    p = run.progress
    print(
        f"{run.path}: {p.epoch} epochs ({p.stop_reason}), best validation ELBO {p.best_val_elbo:.3f} nats "
        f"at epoch {p.best_epoch}, {p.elapsed:.1f} s" + (f", {p.bad_steps} NaN/Inf steps skipped" if p.bad_steps else "")
    )
    return 0


# ------------------------------------------------------------------------------------- use


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw new examples from a trained model")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument("--out", default="samples.png", help=".png grid or .npy array")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the prior draw (<1: sharper, less varied)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", action="store_true", help="draw x ~ p(x|z) instead of its mean")
    p.add_argument("--which", choices=["best", "last"], default="best")
    p.set_defaults(handler=_sample)


def _sample(args: argparse.Namespace) -> int:
    import torch

    from vaekit.checkpoint import RunDir

    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    if args.temperature <= 0:
        raise ConfigError(f"--temperature must be positive, got {args.temperature}")
    run = RunDir(args.run_dir)
    model = run.load_model(args.which)
    x = model.sample(args.n, temperature=args.temperature, generator=torch.Generator().manual_seed(args.seed), mean=not args.draw)
    _write_array_or_grid(x, Path(args.out), run)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def _add_reconstruct(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="encode and decode examples; originals and reconstructions side by side")
    p.add_argument("run_dir")
    p.add_argument("--data", help="data source (default: the run's own)")
    p.add_argument("--data-dir")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("-n", type=int, default=32)
    p.add_argument("--out", default="reconstructions.png", help=".png grid (pairs) or .npy (N, 2, ...)")
    p.set_defaults(handler=_reconstruct)


def _reconstruct(args: argparse.Namespace) -> int:
    import torch

    from vaekit.applications.inputs import load_run_data
    from vaekit.checkpoint import RunDir

    run = RunDir(args.run_dir)
    model = run.load_model()
    x = load_run_data(run, args.data, args.data_dir).split(args.split).x[: args.n]
    recon = model.reconstruct(x)
    pairs = torch.stack([x, recon], 1)  # (N, 2, *shape)
    out = Path(args.out)
    if out.suffix == ".npy":
        _write_array_or_grid(pairs, out, run)
    else:
        _write_array_or_grid(pairs.reshape(-1, *x.shape[1:]), out, run, nrow=16)
    print(f"wrote {x.shape[0]} reconstructions to {out}")
    return 0


def _write_array_or_grid(x, out: Path, run, nrow: int | None = None) -> None:
    import numpy as np

    from vaekit.checkpoint import atomic_write_bytes

    if out.suffix == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, x.cpu().numpy())
        atomic_write_bytes(out, buf.getvalue())
        return
    if out.suffix.lower() != ".png":
        raise ConfigError(f"--out {out}: use a .png or .npy file name")
    if run.info.data_kind != "image":
        raise ConfigError(f"{run.path} models tabular data; write --out as .npy")
    from vaekit.training.figures import image_scale
    from vaekit.viz.grids import save_grid

    out.parent.mkdir(parents=True, exist_ok=True)
    save_grid(x.cpu().numpy(), out, nrow=nrow, scale=image_scale(x.shape[-2]))


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="what a run directory holds: config, epochs, best ELBO, sizes")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> int:
    from vaekit.checkpoint import RunDir

    run = RunDir(args.run_dir)
    state = run.train_state()
    history = run.metrics()
    model = run.build_model()
    n_params = sum(p.numel() for p in model.parameters())
    files = {p.name: p.stat().st_size for p in sorted(run.path.iterdir()) if p.is_file()}
    info = {
        "run_dir": str(run.path),
        "config": run.config.to_dict(),
        "data": {"shape": list(run.info.data_shape), "kind": run.info.data_kind, "checksum": run.info.data_checksum},
        "epochs": state.get("epoch", 0),
        "finished": state.get("finished", False),
        "stop_reason": state.get("stop_reason", ""),
        "best_val_elbo": state.get("best_val_elbo"),
        "best_epoch": state.get("best_epoch"),
        "bad_steps": state.get("bad_steps", 0),
        "train_seconds": state.get("elapsed"),
        "parameters": n_params,
        "files": files,
        "last_metrics": history[-1] if history else None,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    c = run.config
    print(f"run        {run.path}")
    print(f"data       {c.data.source}  shape {tuple(run.info.data_shape)}  binarize={c.data.binarize}")
    print(f"model      {c.model.arch}  latent {c.model.latent_dim}  likelihood {c.model.likelihood}  {n_params:,} parameters")
    print(
        f"train      {info['epochs']}/{c.train.epochs} epochs  {'finished: ' + info['stop_reason'] if info['finished'] else 'not finished (resume with vaekit train --resume)'}"
    )
    if info["best_val_elbo"] is not None:
        print(f"best       validation ELBO {info['best_val_elbo']:.3f} nats at epoch {info['best_epoch']}")
    if info["train_seconds"] is not None:
        print(f"time       {info['train_seconds']:.1f} s training, {info['bad_steps']} NaN/Inf steps skipped")
    print("files      " + ", ".join(f"{k} ({v / 1024:.0f} KiB)" for k, v in files.items()))
    return 0


# ------------------------------------------------------------------------------------- main

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_train, _add_sample, _add_reconstruct, _add_info]


def build_parser() -> argparse.ArgumentParser:
    from vaekit import __version__

    parser = argparse.ArgumentParser(prog="vaekit", description="Train, measure and use variational autoencoders.")
    parser.add_argument("--version", action="version", version=f"vaekit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except VaekitError as e:
        print(f"vaekit {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vaekit {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # python -m vaekit.cli
    sys.exit(main())
