"""What several commands share: writing images or arrays, the data arguments of commands that read new
inputs, and a conditional model's labels for them. No command of its own."""

from __future__ import annotations

import argparse
from pathlib import Path

from vaekit.commands.limits import positive_int
from vaekit.errors import ConfigError


def torch_cat_pad(x, pad: int):
    """x (N, *S) followed by ``pad`` white images (padding a grid's last row)."""
    import torch

    return torch.cat([x, torch.ones(pad, *x.shape[1:])]) if pad else x


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


def add_data(p: argparse.ArgumentParser, split_help: str) -> None:

    p.add_argument("run_dir")
    p.add_argument("--data", help="data source (default: the run's own): mnist, folder:PATH, csv:PATH, npz:PATH, ...")
    p.add_argument("--data-dir", help="where dataset files live")
    p.add_argument("--split", choices=["train", "validation", "test", "all"], help=split_help)
    p.add_argument("-n", type=positive_int, help="use only the first N examples")
    p.add_argument("--batch-size", type=positive_int, default=1024, help="rows per pass through the model")


def example_condition(model, ex):
    """The inputs' labels when the model is conditional (it scores and restores x given its label)."""
    from vaekit.runs import condition_for

    return condition_for(model, ex.y, f"{ex.source} ({ex.split})")
