"""`vaekit embed`, `interpolate`, `traverse`: look inside a trained model's latent space."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from vaekit.commands.limits import check_rows, positive_float, positive_int, seed
from vaekit.errors import ConfigError

if TYPE_CHECKING:  # annotations only: command modules import nothing heavy
    import torch

    from vaekit.checkpoint import RunDir


def _add_data_args(p: argparse.ArgumentParser, split: str = "test") -> None:
    p.add_argument("run_dir")
    p.add_argument("--data", help="data source (default: the run's own)")
    p.add_argument("--data-dir", help="where dataset files live")
    p.add_argument("--split", default=split, choices=["train", "validation", "test"])


def _check_suffix(path: str | None, allowed: tuple[str, ...], flag: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.suffix.lower() not in allowed:
        raise ConfigError(f"{flag} {p}: use a file name ending in {' or '.join(allowed)}")
    return p


def _out(path: str | None, allowed: tuple[str, ...]) -> Path:
    """The --out file, which every command here writes (argparse gives a default)."""
    p = _check_suffix(path, allowed, "--out")
    if p is None:
        raise ConfigError(f"--out is required: a file name ending in {' or '.join(allowed)}")
    return p


# ---------------------------------------------------------------------------------------- embed


def _add_embed(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="latent codes of a whole split (.npz) and a 2-D scatter plot")
    _add_data_args(p)
    p.add_argument("--out", default="latents.npz", help=".npz with z (N, D), projection (N, 2), labels (N,)")
    p.add_argument("--plot", help="also draw the 2-D projection, coloured by label, to this .png")
    p.add_argument(
        "--method",
        default="auto",
        help="auto (direct for a 2-D latent, else pca), direct, pca, tsne (minutes for 10,000 points: see --limit), "
        "umap (pip install umap-learn)",
    )
    p.add_argument("--sample", action="store_true", help="one draw from q(z|x) per example instead of its mean")
    p.add_argument("--limit", type=int, help="embed only the first N examples of the split")
    p.add_argument("--seed", type=seed, default=0, help="for --sample, t-SNE and UMAP")
    p.add_argument("--batch-size", type=positive_int, default=1024)
    p.set_defaults(handler=_embed)


def _embed(args: argparse.Namespace) -> int:
    from vaekit.applications.embedding import embed, resolve_method, save_embedding
    from vaekit.checkpoint import RunDir
    from vaekit.runs import condition_for, load_run_data

    out = _out(args.out, (".npz",))
    plot = _check_suffix(args.plot, (".png",), "--plot")
    if args.limit is not None and args.limit < 1:
        raise ConfigError(f"--limit must be at least 1, got {args.limit}")
    run = RunDir(args.run_dir)
    model = run.load_model()
    resolve_method(args.method, model.latent_dim)  # a bad --method fails before loading data
    data = load_run_data(run, args.data, args.data_dir)
    split = data.split(args.split)
    x = split.x[: args.limit]  # (N, *shape)
    y = None if split.y is None else split.y[: args.limit]
    names = data.class_names or (run.info.class_names if args.data is None else ())
    cond = condition_for(model, y, f"the {args.split} split of {data.name!r}")  # q(z | x, label)
    emb = embed(
        model, x, y, method=args.method, sample=args.sample, seed=args.seed, batch_size=args.batch_size,
        class_names=names, condition=cond,
    )  # fmt: skip
    save_embedding(emb, out)
    n, d = emb.z.shape
    what = "draws" if args.sample else "means"
    print(f"wrote {n} latent {what} ({d}-D) and their 2-D projection ({emb.projection.method}) to {out}")
    if plot is not None:
        from vaekit.viz.scatter import save_scatter

        title = f"{run.path.name}: {data.name} {args.split}, {n} examples, {emb.projection.method} of {d}-D {what}"
        save_scatter(emb.projection.points, plot, emb.labels, names, emb.projection.axis_names, title)
        print(f"wrote the scatter plot to {plot}")
    return 0


# ---------------------------------------------------------------------------------- interpolate


def _add_interpolate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interpolate", help="decode paths between pairs of inputs' latent codes")
    _add_data_args(p)
    p.add_argument("--pairs", type=int, default=8, help="number of random pairs (one row each)")
    p.add_argument("--steps", type=int, default=10, help="points on each path, both ends included")
    p.add_argument("--mode", default="lerp", help="lerp (straight line) or slerp (great circle)")
    p.add_argument("--out", default="interpolation.png", help=".png grid (image runs) or .npy (pairs, steps, ...)")
    p.add_argument("--gif", help="also write an animated .gif of the paths (image runs)")
    p.add_argument("--frame-ms", type=int, default=120, help="GIF frame duration in milliseconds")
    p.add_argument("--seed", type=seed, default=0, help="which pairs are drawn")
    p.set_defaults(handler=_interpolate)


def _interpolate(args: argparse.Namespace) -> int:
    import torch

    from vaekit.applications.interpolation import MODES, choose_pairs, interpolate
    from vaekit.checkpoint import RunDir
    from vaekit.runs import condition_for, load_run_data

    out = _out(args.out, (".png", ".npy"))
    gif = _check_suffix(args.gif, (".gif",), "--gif")
    if args.mode not in MODES:
        raise ConfigError(f"unknown --mode {args.mode!r}: use lerp or slerp")
    if args.steps < 2:
        raise ConfigError(f"--steps must be at least 2 (the two ends), got {args.steps}")
    if args.frame_ms < 1:
        raise ConfigError(f"--frame-ms must be at least 1, got {args.frame_ms}")
    run = RunDir(args.run_dir)
    _need_images(run, out, gif)
    check_rows(max(args.pairs, 0) * args.steps, run, f"--pairs {args.pairs} --steps {args.steps}", png=out.suffix == ".png")
    model = run.load_model()
    data = load_run_data(run, args.data, args.data_dir)
    x = data.split(args.split).x
    y = condition_for(model, data.split(args.split).y, f"the {args.split} split of {data.name!r}")  # labels, if needed
    idx = choose_pairs(x.shape[0], args.pairs, torch.Generator().manual_seed(args.seed))  # (P, 2)
    c0, c1 = (None, None) if y is None else (y[idx[:, 0]], y[idx[:, 1]])
    result = interpolate(model, x[idx[:, 0]], x[idx[:, 1]], args.steps, args.mode, condition0=c0, condition1=c1)
    _write_rows(result.x, out, run)
    pairs = ", ".join(f"{a}-{b}" for a, b in idx.tolist())
    print(f"wrote {args.pairs} {args.mode} interpolations of {args.steps} steps to {out} ({args.split} examples {pairs})")
    if gif is not None:
        from vaekit.training.figures import image_scale
        from vaekit.viz.animation import save_gif

        save_gif(result.x.numpy(), gif, scale=image_scale(x.shape[-2]), frame_ms=args.frame_ms)
        print(f"wrote the animation to {gif}")
    return 0


# ------------------------------------------------------------------------------------- traverse


def _add_traverse(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "traverse",
        help="sweep one latent dimension at a time, informative (high-KL) dimensions first",
        description=(
            "Row r sweeps one latent dimension over prior mean + v * prior stddev, v in [-RANGE, RANGE], the other "
            "dimensions fixed at the base code: z = 0, or with --index the posterior mean of that example. "
            "Dimensions are ranked by their average KL on the run's validation data (rank 0 = largest KL); "
            "--dims picks ranks, e.g. 0-9 = the ten most informative, or original indices with --order index."
        ),
    )
    _add_data_args(p)
    p.add_argument("--dims", help="ranks (or indices with --order index) like 0-9 or 0,3,5-7; default the first 10")
    p.add_argument(
        "--order",
        default="kl",
        choices=["kl", "index"],
        help="what --dims counts: ranks by KL (by activity where no per-dimension KL exists; default) or indices",
    )
    p.add_argument(
        "--range", dest="span", metavar="RANGE", type=positive_float, default=3.0, help="sweep +-RANGE prior standard deviations"
    )
    p.add_argument("--steps", type=int, default=9, help="values per dimension (odd: the middle one is the prior mean)")
    p.add_argument("--index", type=int, help="base code: the posterior mean of this example of --data/--split")
    p.add_argument("--label", type=int, help="conditional models: the class to decode with (default: --index's label, else 0)")
    p.add_argument("--out", default="traversal.png", help=".png grid (image runs) or .npy (dims, steps, ...)")
    p.set_defaults(handler=_traverse)


def _traverse(args: argparse.Namespace) -> int:
    from vaekit.applications.interpolation import dimension_scores, parse_dims, rank_dims, traverse
    from vaekit.checkpoint import RunDir
    from vaekit.core.inference import posterior_stats
    from vaekit.runs import condition_for, load_run_data

    out = _out(args.out, (".png", ".npy"))
    if args.data is not None and args.index is None:
        raise ConfigError("--data gives the base example: pass --index to say which one (without both, the base is z = 0)")
    run = RunDir(args.run_dir)
    _need_images(run, out, None)
    model = run.load_model()
    conditional = bool(getattr(model, "conditional", False))
    if args.label is not None and not conditional:
        raise ConfigError(f"--label needs a conditional model; {run.path} was trained without model.conditional")
    d = model.latent_dim
    picks = parse_dims(args.dims, d) if args.dims else list(range(min(10, d)))
    check_rows(len(picks) * max(args.steps, 0), run, f"--steps {args.steps}", png=out.suffix == ".png")
    base, where, label = None, "z = 0", args.label
    if args.index is not None:
        data = load_run_data(run, args.data, args.data_dir)
        x, y = data.split(args.split).x, data.split(args.split).y
        if not 0 <= args.index < x.shape[0]:
            raise ConfigError(f"--index {args.index} is out of range: the {args.split} split has {x.shape[0]} examples")
        y = condition_for(model, y, f"the {args.split} split of {data.name!r}")
        c = None if y is None else y[args.index : args.index + 1]
        base = posterior_stats(model, x[args.index : args.index + 1], condition=c).mean[0]  # (D,)
        where = f"{args.split} example {args.index}"
        if c is not None and label is None:
            label = int(c[0])
    if conditional:
        label = 0 if label is None else label
        if not 0 <= label < model.classes:
            raise ConfigError(f"--label {label} is not a class of this model: use 0..{model.classes - 1}")
        where += f", label {label}"
    own = load_run_data(run, None, args.data_dir if args.data is None else None)  # the run's own data
    val = own.validation if len(own.validation) else own.train
    kl, what = dimension_scores(model, val.x, condition=condition_for(model, val.y, f"the run's own data {own.name!r}"))
    by_kl = rank_dims(kl).tolist()  # rank -> dimension
    dims = [by_kl[p] for p in picks] if args.order == "kl" else picks
    result = traverse(model, dims, kl, base, args.span, args.steps, condition=label)
    rows = [f"z[{i}]  {what} {k:.2f}" for i, k in zip(result.dims, result.kl.tolist())]
    cols = ["0" if v == 0 else f"{v:+.2g}" for v in result.values.tolist()]
    _write_rows(result.x, out, run, rows, cols, f"traversal around {where} (values in prior std)")
    print(f"wrote {len(dims)} traversals of {args.steps} steps over +-{args.span:g} prior std around {where} to {out}")
    print(
        "rank  dim    "
        + ("KL (nats, validation mean)" if what == "KL" else "activity (variance of the posterior mean, validation)")
    )
    for i, k in zip(result.dims, result.kl.tolist()):
        print(f"{by_kl.index(i):>4}  {i:>3}  {k:8.3f}")
    return 0


# -------------------------------------------------------------------------------------- helpers


def _need_images(run: RunDir, out: Path, gif: Path | None) -> None:
    if run.info.data_kind != "image" and (out.suffix.lower() == ".png" or gif is not None):
        raise ConfigError(f"{run.path} models tabular data, which has no picture: write --out as .npy (and no --gif)")


def _write_rows(
    x: torch.Tensor,
    out: Path,
    run: RunDir,
    row_labels: list[str] | None = None,
    col_labels: list[str] | None = None,
    title: str = "",
) -> None:
    """(R, S, *shape) as .npy (tables back in their original units) or a .png with one row per R."""
    if out.suffix.lower() == ".npy":
        import io

        import numpy as np

        from vaekit.checkpoint import atomic_write_bytes

        scaler = run.scaler()
        if scaler is not None:
            x = scaler.inverse(x)
        buf = io.BytesIO()
        np.save(buf, x.cpu().numpy())
        atomic_write_bytes(out, buf.getvalue())
        return
    from vaekit.training.figures import image_scale
    from vaekit.viz.animation import save_image_rows

    save_image_rows(
        x.cpu().numpy(), out, scale=image_scale(x.shape[-2]), row_labels=row_labels, col_labels=col_labels, title=title
    )


def register(sub: argparse._SubParsersAction) -> None:
    _add_embed(sub)
    _add_interpolate(sub)
    _add_traverse(sub)
