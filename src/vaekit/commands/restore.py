"""`vaekit inpaint` (fill missing entries by sampling the model) and `vaekit denoise` (decode the
posterior mean). Data as for detect: ``--data`` (default: the run's own source) and ``--split``
(``all``: every example of a folder:/csv:/npz: source, named by file)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.commands.outputs import add_data, example_condition
from vaekit.errors import ConfigError

RESTORE_SUFFIXES = (".png", ".npy", ".csv", "")  # "" = a folder


def _add_inpaint(sub: argparse._SubParsersAction) -> None:
    from vaekit.commands.limits import count, positive_int, seed

    p = sub.add_parser("inpaint", help="fill missing entries (masked pixels, NaN cells) with the model")
    add_data(p, "default: test (all for folder:/csv:/npz: sources)")
    p.add_argument(
        "--mask",
        help="what is missing: bottom-half, top-half, left-half, right-half, center (a square of half the side), "
        "random:F (a fraction F, seeded), or a .npy/image file (1/white = observed); NaN entries are always missing",
    )
    p.add_argument(
        "--method",
        choices=["hmc", "mwg", "pseudo-gibbs"],
        default="hmc",
        help="hmc: Hamiltonian Monte Carlo on z (default); mwg: Metropolis-within-Gibbs; pseudo-gibbs (inexact, fast)",
    )
    p.add_argument("--steps", type=positive_int, default=100, help="chain steps (after the warm-up)")
    p.add_argument("--burn-in", type=count, help="steps discarded before averaging (default steps/4)")
    p.add_argument("--chains", type=positive_int, default=1, help="independent chains per input, averaged (more: a better mean)")
    p.add_argument("--warmup", type=count, help="pseudo-Gibbs steps before each hmc/mwg chain (default 20)")
    p.add_argument("--leapfrog", type=positive_int, default=5, help="leapfrog steps per hmc step")
    p.add_argument("--samples", type=count, default=0, help="also write K completions drawn from the chain")
    p.add_argument("--draw", action="store_true", help="samples are draws x ~ p(x|z), not decoded means")
    p.add_argument("--seed", type=seed, default=0)
    _add_clip(p)
    p.add_argument("--out", required=True, help=".png grid, .npy array, .csv table (tabular), or a folder (no suffix)")
    p.set_defaults(handler=_inpaint)


def _add_clip(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--clip",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="tables: keep restored cells within each column's training range, rounded in whole-number columns "
        "(default: the run's data.clip_restored, true unless set)",
    )


def _table_range(args: argparse.Namespace, run, kind: str):
    """The run's scaler when restored table cells are to be held to its ranges, else None."""
    clip = run.config.data.clip_restored if args.clip is None else args.clip
    scaler = run.scaler() if kind == "tabular" and clip else None
    if scaler is not None and not scaler.has_range:
        print(f"note: {run.path}/scaler.json has no column ranges (an older run), so restored values are not clipped")
        return None
    return scaler


def _add_denoise(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("denoise", help="clean inputs: encode, then decode the posterior mean")
    add_data(p, "default: test (all for folder:/csv:/npz: sources)")
    _add_clip(p)
    p.add_argument("--out", required=True, help="a folder (no suffix: same file names), .png grid, .npy or .csv")
    p.set_defaults(handler=_denoise)


def _check_out(out: Path, run, what: str) -> str:
    suffix = out.suffix.lower()
    if suffix not in RESTORE_SUFFIXES:
        raise ConfigError(
            f"--out {out}: unsupported suffix {out.suffix!r}; write a .png grid, .npy, .csv, or a folder (no suffix)"
        )
    image = run.info.data_kind == "image"
    if suffix == ".csv" and image:
        raise ConfigError(f"--out {out}: {run.path} models images; {what} them into a folder, a .png grid or .npy")
    if suffix in (".png", "") and not image:
        raise ConfigError(f"--out {out}: {run.path} models tables; write .csv or .npy")
    return suffix


def _inpaint(args: argparse.Namespace) -> int:
    from vaekit.applications.examples import load_examples
    from vaekit.applications.masks import resolve_mask
    from vaekit.applications.restoration import impute
    from vaekit.applications.writers import save_restored
    from vaekit.checkpoint import RunDir
    from vaekit.core.draws import make_generator

    run = RunDir(args.run_dir)
    out = Path(args.out)
    suffix = _check_out(out, run, "write")
    if args.samples and suffix == "":
        raise ConfigError("--samples: a folder holds one image per input; write --out .png or .npy to get samples")
    whole = load_examples(run, args.data, args.split, args.data_dir)
    ex = whole.head(args.n)
    if suffix == ".csv" and (ex.path is None or not ex.source.lower().startswith("csv:")):
        raise ConfigError(
            "--out .csv rewrites a csv: source with its gaps filled; pass --data csv:FILE (split all), or write .npy"
        )
    mask = resolve_mask(args.mask, ex.x, make_generator(args.seed))
    model = run.load_model()
    scaler = _table_range(args, run, ex.kind)
    res = impute(
        model, ex.x, mask, method=args.method, steps=args.steps, burn_in=args.burn_in,
        warmup=args.warmup, chains=args.chains, leapfrog=args.leapfrog, samples=args.samples,
        draw_samples=args.draw, generator=make_generator(args.seed + 1), batch_size=args.batch_size,
        condition=example_condition(model, ex), bounds=None if scaler is None else scaler.bounds(ex.x.dtype),
    )  # fmt: skip
    filled = res.x
    note = save_restored(out, run, ex, filled, original=ex.x, mask=mask, samples=res.samples, clip=scaler is not None)
    if suffix == ".csv" and len(ex) < len(whole):
        note += f" (its first {len(ex)} of {len(whole)} rows)"
    missing = int((~mask).sum())
    rate = f"; acceptance rate {float(res.acceptance.mean()):.2f}" if res.acceptance is not None else ""
    print(f"filled {missing} missing entries in {len(ex)} inputs ({args.method}, {args.steps} steps{rate}); {note}")
    unseen = ~mask & scaler.unseen() if scaler is not None else None
    if unseen is not None and bool(unseen.any()):
        cols = int(unseen.any(0).sum())
        print(f"left {int(unseen.sum())} of them missing: their {cols} column(s) have no value in the training data")
    known = ~mask & ~ex.x.isnan()
    if bool(known.any()):
        mse = float((filled - ex.x)[known].double().pow(2).mean())
        print(f"the masked entries were known: mean squared error of the fill {mse:.5f} (in model units)")
    return 0


def _denoise(args: argparse.Namespace) -> int:
    from vaekit.applications.examples import load_examples
    from vaekit.applications.restoration import denoise
    from vaekit.applications.writers import save_restored
    from vaekit.checkpoint import RunDir
    from vaekit.errors import DataError

    run = RunDir(args.run_dir)
    out = Path(args.out)
    _check_out(out, run, "write")
    ex = load_examples(run, args.data, args.split, args.data_dir).head(args.n)
    if bool(ex.x.isnan().any()):
        raise DataError("the data has missing (NaN) entries; fill them with vaekit inpaint first")
    model = run.load_model()
    clean = denoise(model, ex.x, batch_size=args.batch_size, condition=example_condition(model, ex))
    scaler = _table_range(args, run, ex.kind)
    note = save_restored(out, run, ex, clean, original=ex.x, clip=scaler is not None)
    print(f"denoised {len(ex)} inputs; {note}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_inpaint(sub)
    _add_denoise(sub)
