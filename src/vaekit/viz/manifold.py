"""The latent manifold figure: a G x G grid of decoded images with the latent values on its axes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vaekit.viz.grids import make_grid, require_matplotlib
from vaekit.viz.scatter import save_figure


def tick_positions(grid: int, most: int = 15) -> list[int]:
    """Cell indices to label: all of them up to ``most`` cells, else an even spread that keeps both ends
    when the grid allows (and so the middle of an odd grid)."""
    if grid <= most:
        return list(range(grid))
    steps = [s for s in range(2, grid) if (grid - 1) % s == 0 and (grid - 1) // s + 1 <= most]
    step = steps[0] if steps else -(-grid // most)
    return list(range(0, grid, step))


def tick_text(v: float) -> str:
    """A z value for an axis tick: 0 reads '0' (never -3e-08), others two significant digits."""
    return "0" if abs(v) < 5e-7 else f"{v:.2g}"


def save_manifold(
    images: np.ndarray,
    values: np.ndarray,
    dims: tuple[int, int],
    path: str | Path,
    *,
    scale: int = 1,
    title: str = "",
) -> None:
    """Write (G, G, C, H, W) images in [0, 1] as one picture without gaps, the columns' z[dims[0]] values
    (``values[0]``, increasing) along the bottom and the rows' z[dims[1]] (``values[1]``, top = largest)
    up the side."""
    plt = require_matplotlib()
    g, _, c, h, w = images.shape
    pic = make_grid(images.reshape(g * g, c, h, w), nrow=g, pad=0)
    if scale > 1:
        pic = pic.repeat(scale, 0).repeat(scale, 1)
    size = max(4.0, min(10.0, pic.shape[0] / 100))
    fig, ax = plt.subplots(figsize=(size + 0.8, size + 0.6))
    ax.imshow(pic[:, :, 0] if c == 1 else pic, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ticks = tick_positions(g)
    cell_w, cell_h = w * scale, h * scale
    ax.set_xticks([(i + 0.5) * cell_w - 0.5 for i in ticks])
    ax.set_xticklabels([tick_text(float(values[0][i])) for i in ticks], fontsize=8)
    ax.set_yticks([(i + 0.5) * cell_h - 0.5 for i in ticks])
    ax.set_yticklabels([tick_text(float(values[1][g - 1 - i])) for i in ticks], fontsize=8)
    ax.set_xlabel(f"z[{dims[0]}]")
    ax.set_ylabel(f"z[{dims[1]}]")
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi=100)
