"""`vaekit reconstruct`: inputs beside their reconstructions at the posterior mean."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.commands.limits import positive_int
from vaekit.commands.outputs import write_output


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


def register(sub: argparse._SubParsersAction) -> None:
    _add_reconstruct(sub)
