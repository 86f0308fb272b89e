"""`vaekit info`: a run directory's config, progress, best validation ELBO and sizes."""

from __future__ import annotations

import argparse
import json


def _add_info(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="what a run directory holds: config, epochs, best ELBO, sizes")
    p.add_argument("run_dir")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=_info)


def _info(args: argparse.Namespace) -> int:
    from vaekit.checkpoint import RunDir

    run = RunDir(args.run_dir)
    state = _checked_state(run)
    history = run.metrics()
    model = run.build_model()
    n_params = sum(p.numel() for p in model.parameters())
    files = {p.name: p.stat().st_size for p in sorted(run.path.iterdir()) if p.is_file() and not p.name.startswith(".")}
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
        "latent_dim": model.latent_dim,  # the whole latent: the sum over stacked layers (model.latent_dims)
        "files": files,
        "last_metrics": history[-1] if history else None,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    c = run.config
    print(f"run        {run.path}")
    print(f"data       {c.data.source}  shape {tuple(run.info.data_shape)}  binarize={c.data.binarize}")
    print(
        f"model      {c.model.arch}  {_latent_text(c.model, model.latent_dim)}  likelihood {c.model.likelihood.kind}  {n_params:,} parameters"
    )
    print(
        f"train      {info['epochs']}/{c.train.epochs} epochs  {'finished: ' + info['stop_reason'] if info['finished'] else 'not finished (resume with vaekit train --resume)'}"
    )
    if info["best_val_elbo"] is not None:
        from vaekit.commands.train import _best

        best = _best(run.config, info["best_val_elbo"], state.get("best_val_score"))
        print(f"best       validation {best} at epoch {info['best_epoch']}")
    if info["train_seconds"] is not None:
        print(f"time       {info['train_seconds']:.1f} s training, {info['bad_steps']} NaN/Inf steps skipped")
    print("files      " + ", ".join(f"{k} ({v / 1024:.0f} KiB)" for k, v in files.items()))
    return 0


def _checked_state(run) -> dict:
    """The run's training state, its entries of the types vaekit writes (a damaged one is an error)."""
    from vaekit.checkpoint import TRAIN_STATE
    from vaekit.errors import CheckpointError
    from vaekit.training.state import Progress

    state = run.train_state()
    if state:
        try:
            Progress.from_json(json.dumps(state))
        except (ValueError, TypeError, KeyError) as e:
            raise CheckpointError(
                f"{run.path / TRAIN_STATE} holds a damaged training state ({e}); retrain or restore it"
            ) from None
    return state


def _latent_text(m, total: int) -> str:
    """``latent 16``, or for stacked layers (model.latent_dims, which override latent_dim) ``latent [100, 50] (150 in all)``."""
    if m.latent_dims:
        return f"latent {list(m.latent_dims)} ({total} in all)"
    return f"latent {m.latent_dim}"


def register(sub: argparse._SubParsersAction) -> None:
    _add_info(sub)
