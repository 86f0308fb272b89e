"""Pictures that explain themselves: image tables with column headers, and grids with row labels.

``save_columns`` draws N examples as rows of K images (original / masked / filled, input /
reconstruction, ...) under one header per column; many rows are wrapped into side-by-side blocks
that repeat the headers, so 32 examples make a picture about as wide as it is tall instead of one
tall strip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.viz.grids import require_matplotlib
from vaekit.viz.scatter import save_figure

PAD = 1  # pixels around each image (before upscaling)
CHAR_PX = 7.5  # width of one header character at 8 pt and 100 dpi, with room between headers


def choose_blocks(n: int, k: int, h: int, w: int, aspect: float = 1.3) -> int:
    """How many side-by-side blocks make N rows of K (h x w) images closest to ``aspect`` (width / height)."""
    best, best_err = 1, math.inf
    for b in range(1, n + 1):
        rows = math.ceil(n / b)
        if b > 1 and math.ceil(n / (b - 1)) == rows:
            continue  # the same height with fewer blocks
        err = abs(math.log((b * k * w * 1.1) / (rows * h) / aspect))
        if err < best_err:
            best, best_err = b, err
    return best


def _canvas(x: np.ndarray, blocks: int, gap: int) -> tuple[np.ndarray, int]:
    """(N, K, C, H, W) -> one (rows*(H+PAD)+PAD, blocks*(K*(W+PAD)+PAD) + (blocks-1)*gap, C) image, white
    between cells; returns it and the rows per block."""
    n, k, c, h, w = x.shape
    rows = math.ceil(n / blocks)
    block_w = k * (w + PAD) + PAD
    canvas = np.ones((rows * (h + PAD) + PAD, blocks * block_w + (blocks - 1) * gap, c), np.float32)
    for i in range(n):
        b, r = divmod(i, rows)
        for j in range(k):
            top, left = PAD + r * (h + PAD), b * (block_w + gap) + PAD + j * (w + PAD)
            canvas[top : top + h, left : left + w] = x[i, j].transpose(1, 2, 0)
    return np.clip(canvas, 0.0, 1.0), rows


def save_columns(
    x: np.ndarray,
    headers: Sequence[str],
    path: str | Path,
    *,
    scale: int = 1,
    blocks: int | None = None,
    row_labels: Sequence[str] | None = None,
    title: str = "",
) -> None:
    """Write (N, K, C, H, W) images in [0, 1] as a PNG table: one row per example, one headed column per
    kind of image (``headers``, K of them), wrapped into ``blocks`` side-by-side blocks (default: about
    as wide as tall). ``row_labels`` (N) name the rows (e.g. class labels)."""
    plt = require_matplotlib()
    x = np.asarray(x, dtype=np.float32)
    n, k, c, h, w = x.shape
    if len(headers) != k:
        raise ValueError(f"{k} columns but {len(headers)} headers")
    scale = max(scale, min(12, math.ceil(max(len(t) for t in headers) * CHAR_PX / w)))  # room for every header
    b = blocks or choose_blocks(n, k, h, w)
    gap = max(4, w // 2)
    canvas, rows = _canvas(x, b, gap)
    if scale > 1:
        canvas = canvas.repeat(scale, 0).repeat(scale, 1)
    dpi = 100
    label_room = 0.6 if row_labels is not None else 0.0
    fig_w = max(canvas.shape[1], 160) / dpi + 0.3 + label_room
    fig_h = max(canvas.shape[0], 60) / dpi + 0.35 + (0.25 if title else 0.0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_h))
    ax.imshow(canvas[:, :, 0] if c == 1 else canvas, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    block_w = (k * (w + PAD) + PAD + gap) * scale
    size = 8
    for blk in range(b):
        for j, name in enumerate(headers):
            cx = blk * block_w + (PAD + j * (w + PAD) + w / 2) * scale
            ax.text(cx, -2, name, ha="center", va="bottom", fontsize=size)
    if row_labels is not None:
        for i, label in enumerate(row_labels):
            blk, r = divmod(i, rows)
            cy = (PAD + r * (h + PAD) + h / 2) * scale
            ax.text(blk * block_w - 3, cy, str(label), ha="right", va="center", fontsize=7)
    if title:
        ax.set_title(title, fontsize=9, pad=14)
    save_figure(fig, path, dpi=dpi)
