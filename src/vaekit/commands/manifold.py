"""`vaekit manifold`: the grid of decoded images over two latent dimensions (the classic 2-D VAE figure)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.errors import ConfigError


def _add_manifold(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "manifold",
        help="decode a grid over two latent dimensions at the prior's quantiles (the 2-D latent manifold)",
        description=(
            "Cell (row, column) decodes z with z[DIMS[0]] at the column's prior quantile (left to right) and "
            "z[DIMS[1]] at the row's (bottom to top); the quantiles are evenly spaced over [Q, 1-Q] and the other "
            "dimensions sit at the prior mean (0). On a model with a 2-D latent this is the whole learned manifold."
        ),
    )
    p.add_argument("run_dir")
    p.add_argument("--grid", type=int, default=15, help="cells per side (default 15)")
    p.add_argument("--dims", default="0,1", help="the two latent dimensions, horizontal then vertical (default 0,1)")
    p.add_argument("--quantile", type=float, default=0.05, help="the outermost quantile Q (default 0.05: 5%% to 95%%)")
    p.add_argument("--label", type=int, help="conditional models: the class every cell is decoded with (default 0)")
    p.add_argument("--which", choices=["best", "last"], default="best")
    p.add_argument("--out", default="manifold.png", help=".png figure (image runs) or .npy (G, G, ...)")
    p.set_defaults(handler=_manifold)


def _parse_pair(text: str) -> tuple[int, int]:
    parts = [t.strip() for t in text.split(",")]
    if len(parts) != 2 or not all(t.isdigit() for t in parts):
        raise ConfigError(f"--dims {text!r}: give two latent dimensions separated by a comma, like 0,1")
    return int(parts[0]), int(parts[1])


def _manifold(args: argparse.Namespace) -> int:
    from vaekit.applications.manifold import latent_manifold
    from vaekit.checkpoint import RunDir

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".npy"):
        raise ConfigError(f"--out {out}: use a file name ending in .png or .npy")
    dims = _parse_pair(args.dims)
    run = RunDir(args.run_dir)
    if run.info.data_kind != "image" and out.suffix.lower() == ".png":
        raise ConfigError(f"{run.path} models tabular data, which has no picture: write --out as .npy")
    model = run.load_model(args.which)
    label = None
    if getattr(model, "conditional", False):
        label = 0 if args.label is None else args.label
        if not 0 <= label < model.classes:
            raise ConfigError(f"--label {label} is not a class of this model: use 0..{model.classes - 1}")
    elif args.label is not None:
        raise ConfigError(f"--label needs a conditional model; {run.path} was trained without model.conditional")
    m = latent_manifold(model, args.grid, dims, args.quantile, condition=label)
    q = args.quantile
    if out.suffix.lower() == ".npy":
        import io

        import numpy as np

        from vaekit.checkpoint import atomic_write_bytes

        x = m.x
        scaler = run.scaler()
        if scaler is not None:
            x = scaler.inverse(x)
        buf = io.BytesIO()
        np.save(buf, x.cpu().numpy())
        atomic_write_bytes(out, buf.getvalue())
    else:
        from vaekit.training.figures import image_scale
        from vaekit.viz.manifold import save_manifold

        rest = "the other dimensions at the prior mean" if model.latent_dim > 2 else "2-D latent"
        title = f"{run.path.name}: decoded means over prior quantiles {q:g} to {1 - q:g}; {rest}"
        if label is not None:
            title += f"; label {run.info.class_names[label] if label < len(run.info.class_names) else label}"
        h = m.x.shape[-2]
        save_manifold(m.x.numpy(), m.values.numpy(), m.dims, out, scale=image_scale(h), title=title)
    print(f"wrote a {args.grid}x{args.grid} manifold of z[{dims[0]}] x z[{dims[1]}] to {out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    _add_manifold(sub)
