"""Anomaly maps as colour PNGs: one (H, W) array of per-pixel scores -> PNG bytes."""

from __future__ import annotations

import io

import numpy as np

from vaekit.viz.grids import require_matplotlib


def heatmap_png(values: np.ndarray, vmin: float, vmax: float, scale: int = 1, cmap: str = "inferno") -> bytes:
    """(H, W) values -> PNG bytes, colours fixed by [vmin, vmax] (shared across maps so they compare),
    each pixel upscaled to ``scale`` x ``scale``."""
    plt = require_matplotlib()
    a = np.asarray(values, dtype=np.float64)
    if scale > 1:
        a = a.repeat(scale, 0).repeat(scale, 1)
    buf = io.BytesIO()
    plt.imsave(buf, a, cmap=cmap, vmin=vmin, vmax=vmax if vmax > vmin else vmin + 1e-12, format="png")
    return buf.getvalue()


def color_range(maps: np.ndarray, upper: float = 99.5) -> tuple[float, float]:
    """(min, the `upper` percentile) over all maps: one colour scale so a bright pixel means the same everywhere."""
    if maps.size == 0:
        return 0.0, 1.0
    return float(np.min(maps)), float(np.percentile(maps, upper))
