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


def save_curves(history: list[dict], path: str | Path, stop: str = "") -> None:
    """Write :func:`curves_figure` as a PNG."""
    plt = require_matplotlib()
    fig = curves_figure(history, stop)
    fig.savefig(str(path), dpi=100)
    plt.close(fig)


def curves_figure(history: list[dict], stop: str = ""):
    """Training loss and validation -ELBO per epoch with the best (saved) epoch marked, the KL terms, and
    the learning rate. ``stop`` is how the run ended; early stopping is marked where it happened."""
    from matplotlib.ticker import MaxNLocator

    plt = require_matplotlib()
    epochs = [r["epoch"] for r in history]
    lrs = [r.get("lr") for r in history]
    has_lr = any(v is not None for v in lrs)
    fig, axes = plt.subplots(1, 3 if has_lr else 2, figsize=(13 if has_lr else 9, 3.2))
    a, b = axes[0], axes[1]
    val = [-r["val_elbo"] if r.get("val_elbo") is not None else float("nan") for r in history]
    a.plot(epochs, [r["loss"] for r in history], label="train loss")
    a.plot(epochs, val, label="validation -ELBO")
    finite = [(v, e) for v, e in zip(val, epochs) if math.isfinite(v)]
    if finite:
        v, e = min(finite)
        a.axvline(e, color="0.6", linestyle=":", linewidth=1)
        a.plot([e], [v], "o", color="C1", markersize=5, label=f"best: epoch {e} (saved)")
    if stop.startswith("early stopping") and epochs:
        a.axvline(epochs[-1], color="C3", linestyle="--", linewidth=1, label=f"early stop: epoch {epochs[-1]}")
    a.set_ylabel("nats")
    a.legend(fontsize=8)
    b.plot(epochs, [r["kl"] for r in history], label="train KL")
    b.plot(epochs, [r.get("val_kl") for r in history], label="validation KL")
    b.set_ylabel("nats")
    b.legend(fontsize=8)
    if has_lr:
        c = axes[2]
        c.plot(epochs, [float("nan") if v is None else v for v in lrs], color="C2")
        c.set_ylabel("learning rate")
        positive = [v for v in lrs if v]
        if positive and max(positive) / min(positive) > 20:
            c.set_yscale("log")
        else:
            c.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # a 3-epoch run reads 1 2 3, not 1.0 1.5 2.0
    fig.tight_layout()
    return fig
