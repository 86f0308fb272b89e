"""The figures a finished run leaves in its directory: samples, reconstructions, curves."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vaekit.core import VAE
from vaekit.data import DataSplits
from vaekit.data.base import RatingsSplits
from vaekit.errors import DataError, ModelError, VaekitError


def image_scale(h: int) -> int:
    """Integer upscale so small images (8x8 digits) are visible in the PNG."""
    return max(1, math.ceil(48 / h)) if h < 48 else 1


def write_run_figures(out: Path, model: VAE, data: DataSplits | RatingsSplits, history: list[dict], seed: int) -> list[Path]:
    """Best effort: without matplotlib the run is complete and these are simply not drawn."""
    from vaekit.viz.grids import require_matplotlib, save_curves, save_grid
    from vaekit.viz.labelled import save_columns

    try:
        require_matplotlib()
    except VaekitError:
        return []
    written = []
    if history:
        save_curves(history, out / "curves.png", stop=_stop(out))
        written.append(out / "curves.png")
    if isinstance(data, DataSplits) and data.kind == "image":
        scale = image_scale(data.shape[1])
        gen = torch.Generator().manual_seed(seed)
        if getattr(model, "conditional", False):
            save_class_samples(model, out / "samples.png", gen, getattr(data, "class_names", ()), scale)
        else:
            samples = model.sample(64, generator=gen)
            save_grid(samples.cpu().numpy(), out / "samples.png", nrow=8, scale=scale)
        x = data.test.x[:32]
        y = None
        if getattr(model, "conditional", False):  # a conditional model's labels
            if data.test.y is None:
                raise DataError(f"the model is conditioned on labels, but {data.name} has no test labels")
            y = data.test.y[:32]
        recon = model.reconstruct(x.to(next(model.parameters()).device), condition=y).cpu()
        pairs = torch.stack([x, recon], 1)  # (N, 2, C, H, W): original, reconstruction
        save_columns(pairs.numpy(), ["original", "reconstruction"], out / "reconstructions.png", scale=scale)
        written += [out / "samples.png", out / "reconstructions.png"]
    return written


def save_class_samples(
    model: VAE, path: Path, generator: torch.Generator, class_names: tuple[str, ...] = (), scale: int = 1, per_class: int = 8
) -> None:
    """A conditional model's samples: one row per class (at most 20), labelled with the class."""
    from vaekit.viz.animation import save_image_rows

    if model.condition is None:
        raise ModelError("this model is not conditional: it has no classes to draw samples of")
    classes = min(model.condition.dim, 20)
    labels = torch.arange(classes).repeat_interleave(per_class)  # (R*S,) row r is class r
    x = model.sample(len(labels), generator=generator, condition=labels.to(next(model.parameters()).device)).cpu()
    names = [class_label(c, class_names) for c in range(classes)]
    save_image_rows(
        x.reshape(classes, per_class, *x.shape[1:]).numpy(), path, scale=scale, row_labels=names, title="samples by class"
    )


def class_label(c: int, class_names: tuple[str, ...] | list[str] = ()) -> str:
    """'3' or '3 Dress': the label and its name when the data names its classes (and the name is not the label)."""
    name = class_names[c] if c < len(class_names) else ""
    return f"{c} {name}" if name and name != str(c) else str(c)


def _stop(out: Path) -> str:
    """How the run ended, from its training state ('' when unknown)."""
    from vaekit.checkpoint import RunDir

    try:
        return str(RunDir(out).train_state().get("stop_reason", ""))
    except Exception:  # a figure never fails the run
        return ""
