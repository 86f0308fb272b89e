"""The figures a finished run leaves in its directory: samples, reconstructions, curves."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from vaekit.core import VAE
from vaekit.data import DataSplits


def image_scale(h: int) -> int:
    """Integer upscale so small images (8x8 digits) are visible in the PNG."""
    return max(1, math.ceil(48 / h)) if h < 48 else 1


def write_run_figures(out: Path, model: VAE, data: DataSplits, history: list[dict], seed: int) -> list[Path]:
    """Best effort: without matplotlib the run is complete and these are simply not drawn."""
    from vaekit.errors import VaekitError
    from vaekit.viz.grids import require_matplotlib, save_curves, save_grid

    try:
        require_matplotlib()
    except VaekitError:
        return []
    written = []
    if history:
        save_curves(history, out / "curves.png")
        written.append(out / "curves.png")
    if data.kind == "image":
        scale = image_scale(data.shape[1])
        gen = torch.Generator().manual_seed(seed)
        samples = model.sample(64, generator=gen)
        save_grid(samples.cpu().numpy(), out / "samples.png", nrow=8, scale=scale)
        x = data.test.x[:32]
        y = data.test.y[:32] if getattr(model, "conditional", False) else None  # a conditional model's labels
        recon = model.reconstruct(x.to(next(model.parameters()).device), condition=y).cpu()
        pairs = torch.stack([x, recon], 1).reshape(-1, *x.shape[1:])  # original, reconstruction, ...
        save_grid(pairs.numpy(), out / "reconstructions.png", nrow=16, scale=scale)
        written += [out / "samples.png", out / "reconstructions.png"]
    return written
