"""`vaekit sample`, `reconstruct`, `info`: read a run directory, write files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vaekit.commands.limits import check_finite_positive, check_rows, positive_int, seed
from vaekit.commands.samplers import add_sampler_argument, draw_samples
from vaekit.errors import ConfigError


def _add_sample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw new examples from a trained model")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=64, help="number of samples")
    p.add_argument("--out", default="samples.png", help=".png grid or .npy array (tables in original units)")
    p.add_argument("--temperature", type=float, default=1.0, help="scale of the prior draw (<1: sharper, less varied)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--draw", action="store_true", help="draw x ~ p(x|z) instead of its mean")
    p.add_argument("--which", choices=["best", "last"], default="best")
    p.add_argument("--label", type=int, help="conditional models: the class to draw (default: cycle through all)")
    add_sampler_argument(p)
    p.set_defaults(handler=_sample)


def _sample(args: argparse.Namespace) -> int:
    import torch

    from vaekit.checkpoint import RunDir

    if args.n < 1:
        raise ConfigError(f"-n must be at least 1, got {args.n}")
    check_finite_positive(args.temperature, "--temperature")
    run = RunDir(args.run_dir)
    check_rows(args.n, run, f"-n {args.n}", png=Path(args.out).suffix.lower() == ".png")
    model = run.load_model(args.which)
    condition = None
    if args.label is not None:
        if not getattr(model, "conditional", False):
            raise ConfigError(f"--label needs a conditional model; {run.path} was trained without model.conditional")
        classes = model.classes
        if not 0 <= args.label < classes:
            raise ConfigError(f"--label {args.label} is not a class of this model: use 0..{classes - 1}")
        condition = torch.full((args.n,), args.label, dtype=torch.long)
    x = draw_samples(args, run, model, condition)
    out = Path(args.out)
    if getattr(model, "conditional", False) and out.suffix.lower() == ".png" and run.info.data_kind == "image":
        _labelled_samples(x, out, run, model, args.label)
    else:
        write_output(x, out, run)
    print(f"wrote {args.n} samples to {args.out}")
    return 0


def _labelled_samples(x, out: Path, run, model, label: int | None) -> None:
    """A conditional model's samples with their classes: one label in the title, or a labelled row per class."""
    from vaekit.training.figures import class_label, image_scale
    from vaekit.viz.animation import save_image_rows

    scale = image_scale(x.shape[-2])
    names = run.info.class_names
    if label is not None:
        cols = min(8, x.shape[0])
        rows = -(-x.shape[0] // cols)
        pad = rows * cols - x.shape[0]
        grid = torch_cat_pad(x, pad).reshape(rows, cols, *x.shape[1:])
        save_image_rows(grid.numpy(), out, scale=scale, title=f"samples of class {class_label(label, names)}")
        return
    classes = model.classes  # sample cycles through the classes: sample i has label i % classes
    per_class = -(-x.shape[0] // classes)
    rows = torch_cat_pad(x, per_class * classes - x.shape[0]).reshape(per_class, classes, *x.shape[1:]).transpose(0, 1)
    save_image_rows(
        rows.numpy(), out, scale=scale, row_labels=[class_label(c, names) for c in range(classes)], title="samples by class"
    )


def torch_cat_pad(x, pad: int):
    """x (N, *S) followed by ``pad`` white images (padding a grid's last row)."""
    import torch

    return torch.cat([x, torch.ones(pad, *x.shape[1:])]) if pad else x


def _add_reconstruct(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reconstruct", help="encode and decode examples; originals and reconstructions side by side")
    p.add_argument("run_dir")
    p.add_argument("--data", help="data source (default: the run's own)")
    p.add_argument("--data-dir")
    p.add_argument("--split", default="test", choices=["train", "validation", "test"])
    p.add_argument("-n", type=positive_int, default=32)
    p.add_argument("--out", default="reconstructions.png", help=".png grid (pairs) or .npy (N, 2, ...; tables in original units)")
    p.set_defaults(handler=_reconstruct)


def _reconstruct(args: argparse.Namespace) -> int:
    import torch

    from vaekit.checkpoint import RunDir
    from vaekit.runs import condition_for, load_run_data

    run = RunDir(args.run_dir)
    model = run.load_model()
    data = load_run_data(run, args.data, args.data_dir)
    split = data.split(args.split)
    x = split.x[: args.n]
    y = None if split.y is None else split.y[: args.n]
    x_in = torch.nan_to_num(x, nan=0.0)  # a table's missing cells (NaN) enter the encoder as 0, as in training
    recon = model.reconstruct(x_in, condition=condition_for(model, y, f"the {args.split} split of {data.name!r}"))
    pairs = torch.stack([x, recon], 1)  # (N, 2, *shape)
    out = Path(args.out)
    if out.suffix == ".npy":
        write_output(pairs, out, run)
    elif out.suffix.lower() == ".png" and run.info.data_kind == "image":
        from vaekit.training.figures import image_scale
        from vaekit.viz.labelled import save_columns

        save_columns(pairs.numpy(), ["original", "reconstruction"], out, scale=image_scale(x.shape[-2]))
    else:
        write_output(pairs.reshape(-1, *x.shape[1:]), out, run, nrow=16)
    print(f"wrote {x.shape[0]} reconstructions to {out}")
    return 0


def write_output(x, out: Path, run, nrow: int | None = None) -> None:
    """Write a batch as .npy (any data; tables in their original units) or a .png grid (image runs),
    atomically for .npy."""
    import numpy as np

    from vaekit.checkpoint import atomic_write_bytes

    if out.suffix == ".npy":
        import io

        scaler = run.scaler() if run.info.data_kind == "tabular" else None
        if scaler is not None:
            x = scaler.inverse(x.cpu())
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
    _add_sample(sub)
    _add_reconstruct(sub)
    _add_info(sub)
