"""`vaekit sample` (draws from the prior, or from a fitted aggregate-posterior sampler) and `vaekit fit-sampler`."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.commands.limits import check_finite_positive, check_rows, seed
from vaekit.commands.outputs import torch_cat_pad, write_output
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


def _add_fit_sampler(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fit-sampler", help="fit a Gaussian mixture on the latent codes of the training data")
    p.add_argument("run_dir")
    p.add_argument("--components", type=int, default=10, help="mixture components (default 10)")
    p.add_argument("--covariance", choices=["full", "diag"], default="full")
    p.add_argument("--data", help="data source (default: the run's own)")
    p.add_argument("--data-dir")
    p.add_argument("--split", default="train", choices=["train", "validation", "test"])
    p.add_argument("--limit", type=int, help="fit on the first N examples only")
    p.add_argument("--seed", type=seed, default=0)
    p.set_defaults(handler=_fit_sampler)


def _fit_sampler(args: argparse.Namespace) -> int:
    from vaekit.checkpoint import RunDir
    from vaekit.runlock import claim_run_dir

    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    run = RunDir(args.run_dir)
    with claim_run_dir(run.path, new=False, what="vaekit fit-sampler"):  # one writer per run directory
        return _fit_sampler_locked(args, run)


def _fit_sampler_locked(args: argparse.Namespace, run) -> int:
    from vaekit.applications.samplers import fit_gmm_sampler, save_gmm_sampler
    from vaekit.runs import condition_for, load_run_data

    model = run.load_model()
    data = load_run_data(run, args.data, args.data_dir)
    split = data.split(args.split)
    x, y = split.x[: args.limit], (split.y[: args.limit] if split.y is not None else None)
    condition = condition_for(model, y, f"the {args.split} split of {data.name!r}")
    sampler = fit_gmm_sampler(model, x, args.components, covariance=args.covariance, seed=args.seed, condition=condition)
    path = save_gmm_sampler(run.path, sampler)
    print(f"fitted a {sampler.components}-component {args.covariance} mixture on {sampler.fitted_on} latent codes; wrote {path}")
    return 0


def add_sampler_argument(p: argparse.ArgumentParser) -> None:
    """``--sampler {prior,gmm}`` for ``vaekit sample``."""
    p.add_argument(
        "--sampler", choices=["prior", "gmm"], default="prior", help="draw z from the prior, or from the mixture of fit-sampler"
    )


def draw_samples(args: argparse.Namespace, run, model, condition=None):
    """What ``vaekit sample`` writes: from the prior, or from the fitted mixture (``--sampler gmm``)."""
    import torch

    gen = torch.Generator().manual_seed(args.seed)
    if getattr(args, "sampler", "prior") == "gmm":
        from vaekit.applications.samplers import load_gmm_sampler, sample_with_gmm

        sampler = load_gmm_sampler(run.path)
        return sample_with_gmm(
            model, sampler, args.n, generator=gen, temperature=args.temperature, mean=not args.draw, condition=condition
        )
    return model.sample(args.n, temperature=args.temperature, generator=gen, mean=not args.draw, condition=condition)


def register(sub: argparse._SubParsersAction) -> None:
    _add_sample(sub)
    _add_fit_sampler(sub)
