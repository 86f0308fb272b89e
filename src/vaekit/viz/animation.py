"""Image sequences (interpolations, traversals): rows of frames as a PNG grid, or an animated GIF.

A batch of sequences is an array (R, S, C, H, W) in [0, 1]: R sequences of S frames each. As a
PNG it is one row per sequence; as a GIF, frame s shows every sequence's s-th image side by side.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.errors import VaekitError
from vaekit.viz.grids import make_grid, require_matplotlib
from vaekit.viz.scatter import save_figure

PAD = 1  # pixels between images in a grid (before upscaling), as in make_grid


def _check(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 5 or rows.shape[2] not in (1, 3):
        raise ValueError(f"image sequences must be (R, S, C, H, W) with C = 1 or 3, got {rows.shape}")
    return rows


def _upscale(grid: np.ndarray, scale: int) -> np.ndarray:
    return grid.repeat(scale, 0).repeat(scale, 1) if scale > 1 else grid


def to_uint8(grid: np.ndarray) -> np.ndarray:
    """(H, W, C) floats in [0, 1] -> uint8, rounding to the nearest level."""
    return np.round(np.clip(grid, 0.0, 1.0) * 255.0).astype(np.uint8)


def save_image_rows(
    rows: np.ndarray,
    path: str | Path,
    *,
    scale: int = 1,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str = "",
) -> None:
    """Write (R, S, C, H, W) as a PNG with one row per sequence. Without labels the PNG is the
    pixel grid itself; with labels it is a figure whose rows/columns are named by the labels."""
    plt = require_matplotlib()
    rows = _check(rows)
    r, s, c, h, w = rows.shape
    grid = _upscale(make_grid(rows.reshape(r * s, c, h, w), nrow=s, pad=PAD), scale)  # (Hg, Wg, C)
    if row_labels is None and col_labels is None and not title:
        from vaekit.checkpoint import atomic_write_bytes

        buf = io.BytesIO()
        if c == 1:
            plt.imsave(buf, grid[:, :, 0], cmap="gray", vmin=0.0, vmax=1.0, format="png")
        else:
            plt.imsave(buf, grid, format="png")
        atomic_write_bytes(Path(path), buf.getvalue())
        return
    dpi = 100
    fig, ax = plt.subplots(figsize=(max(grid.shape[1], 200) / dpi + 0.4, max(grid.shape[0], 100) / dpi + 0.4))
    ax.imshow(grid[:, :, 0] if c == 1 else grid, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    step_y, step_x = (h + PAD) * scale, (w + PAD) * scale
    ax.set_yticks([PAD * scale + i * step_y + h * scale / 2 for i in range(r)])
    ax.set_yticklabels(list(row_labels) if row_labels is not None else [""] * r, fontsize=8)
    ax.set_xticks([PAD * scale + j * step_x + w * scale / 2 for j in range(s)])
    ax.set_xticklabels(list(col_labels) if col_labels is not None else [""] * s, fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path, dpi=dpi)


def gif_frames(rows: np.ndarray, *, scale: int = 1, bounce: bool = True) -> np.ndarray:
    """(R, S, C, H, W) -> (T, Hg, Wg, C) uint8 frames; frame s is the grid of the R s-th images.
    ``bounce`` plays the sequence forward then back (T = 2S - 2) so the loop has no jump."""
    rows = _check(rows)
    r, s = rows.shape[:2]
    order = list(range(s)) + (list(range(s - 2, 0, -1)) if bounce else [])
    nrow = max(1, math.ceil(math.sqrt(r)))
    return np.stack([to_uint8(_upscale(make_grid(rows[:, i], nrow=nrow, pad=PAD), scale)) for i in order])


def save_gif(rows: np.ndarray, path: str | Path, *, scale: int = 1, frame_ms: int = 120, bounce: bool = True) -> None:
    """Write (R, S, C, H, W) as a looping animated GIF (atomically). Needs Pillow.

    Pillow merges consecutive identical frames (adding up their durations), so a sequence that
    does not change may have fewer frames than ``gif_frames`` returns."""
    try:
        from PIL import Image
    except ImportError:
        raise VaekitError("writing a GIF needs Pillow: pip install pillow (or 'vaekit[images]')") from None
    from vaekit.checkpoint import atomic_write_bytes

    frames = gif_frames(rows, scale=scale, bounce=bounce)  # (T, Hg, Wg, C)
    images = [Image.fromarray(f[:, :, 0] if f.shape[2] == 1 else f) for f in frames]  # uint8 -> mode L or RGB
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0)
    atomic_write_bytes(Path(path), buf.getvalue())
