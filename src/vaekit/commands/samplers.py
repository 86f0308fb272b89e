"""`vaekit fit-sampler`: fit a Gaussian mixture on a trained model's aggregate posterior.

The mixture is saved beside the checkpoint (``sampler_gmm.safetensors``); ``vaekit sample RUN
--sampler gmm`` then draws z from it instead of the prior (``add_sampler_argument`` and
``draw_samples`` are what ``sample`` uses for that).
"""

from __future__ import annotations

import argparse

from vaekit.commands.limits import seed
from vaekit.errors import ConfigError


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
    _add_fit_sampler(sub)
