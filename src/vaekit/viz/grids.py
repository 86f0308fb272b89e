"""Image grids and training curves as PNG files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError


def require_matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError:
        raise VaekitError("plotting needs matplotlib: pip install 'vaekit[viz]' (or write .npy instead)") from None
    return plt


def make_grid(images: np.ndarray, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (rows*(H+pad)+pad, cols*(W+pad)+pad, C) array; C is 1 or 3."""
    n, c, h, w = images.shape
    cols = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / cols))
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.float32)
    for i in range(n):
        r, col = divmod(i, cols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[top : top + h, left : left + w] = images[i].transpose(1, 2, 0)
    return np.clip(grid, 0.0, 1.0)


def save_grid(images: np.ndarray, path: str | Path, nrow: int | None = None, scale: int = 1) -> None:
    """Write a grid of (N, C, H, W) images in [0, 1] as PNG, upscaled by an integer ``scale``."""
    plt = require_matplotlib()
    grid = make_grid(images, nrow)
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    if grid.shape[2] == 1:
        plt.imsave(str(path), grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        plt.imsave(str(path), grid)


def save_curves(history: list[dict], path: str | Path) -> None:
    """Training loss and validation -ELBO per epoch, and the KL term."""
    plt = require_matplotlib()
    epochs = [r["epoch"] for r in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(epochs, [r["loss"] for r in history], label="train loss")
    a.plot(epochs, [-r["val_elbo"] if r["val_elbo"] is not None else float("nan") for r in history], label="validation -ELBO")
    a.set_xlabel("epoch")
    a.set_ylabel("nats")
    a.legend()
    b.plot(epochs, [r["kl"] for r in history], label="train KL")
    b.plot(epochs, [r["val_kl"] for r in history], label="validation KL")
    b.set_xlabel("epoch")
    b.legend()
    fig.tight_layout()
    fig.savefig(str(path), dpi=100)
    plt.close(fig)
