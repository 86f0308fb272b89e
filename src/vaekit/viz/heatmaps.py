"""Anomaly maps as pictures: per-pixel scores drawn over the input they explain.

One PNG per input (fast: pixels composited with numpy, no figure) shows the input in grey with the
map laid over it — the higher a pixel's score, the more opaque its colour — and a colour-bar strip
on the right, on a colour scale shared by every map so a bright pixel means the same everywhere.
``overview_png`` draws the first inputs side by side with a labelled colour bar in nats.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from vaekit.viz.grids import require_matplotlib

OPACITY = 0.8  # of the colour at the top of the scale; the bottom of the scale is transparent


def overlay(values: np.ndarray, image: np.ndarray | None, vmin: float, vmax: float, cmap: str = "inferno") -> np.ndarray:
    """(H, W) scores over an (C, H, W) image in [0, 1] (grey behind when None) -> (H, W, 3) RGB in [0, 1]."""
    plt = require_matplotlib()
    v = np.clip((np.asarray(values, np.float64) - vmin) / (vmax - vmin if vmax > vmin else 1e-12), 0.0, 1.0)  # (H, W)
    colour = plt.get_cmap(cmap)(v)[..., :3]  # (H, W, 3)
    grey = np.full(v.shape, 0.5) if image is None else np.asarray(image, np.float64).mean(0)  # (H, W)
    alpha = OPACITY * v[..., None]
    return (1 - alpha) * grey[..., None] + alpha * colour


def heatmap_png(
    values: np.ndarray,
    vmin: float,
    vmax: float,
    scale: int = 1,
    cmap: str = "inferno",
    image: np.ndarray | None = None,
) -> bytes:
    """(H, W) values over ``image`` (C, H, W) -> PNG bytes with a colour-bar strip on the right (bottom:
    ``vmin``, top: ``vmax``), each pixel upscaled to ``scale`` x ``scale``."""
    plt = require_matplotlib()
    rgb = overlay(values, image, vmin, vmax, cmap)  # (H, W, 3)
    h = rgb.shape[0]
    bar = plt.get_cmap(cmap)(np.linspace(1.0, 0.0, h))[:, None, :3].repeat(max(1, rgb.shape[1] // 8), 1)  # (H, w, 3) top = vmax
    gap = np.ones((h, 1, 3))
    pic = np.concatenate([rgb, gap, bar], axis=1)
    if scale > 1:
        pic = pic.repeat(scale, 0).repeat(scale, 1)
    buf = io.BytesIO()
    plt.imsave(buf, np.clip(pic, 0.0, 1.0), format="png")
    return buf.getvalue()


def color_range(maps: np.ndarray, upper: float = 99.5) -> tuple[float, float]:
    """(min, the `upper` percentile) over all maps: one colour scale so a bright pixel means the same everywhere."""
    if maps.size == 0:
        return 0.0, 1.0
    return float(np.min(maps)), float(np.percentile(maps, upper))


def overview_png(
    maps: np.ndarray,
    images: np.ndarray | None,
    names: Sequence[str],
    scores: Sequence[float] | None,
    vmin: float,
    vmax: float,
    cmap: str = "inferno",
    most: int = 24,
) -> bytes:
    """The first ``most`` maps (N, H, W) over their inputs (N, C, H, W) in one figure, each titled with its
    name (and score), beside a colour bar in nats per pixel."""
    plt = require_matplotlib()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    n = min(len(maps), most)
    cols = min(n, 8)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols + 1.0, 1.45 * rows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(overlay(maps[i], None if images is None else images[i], vmin, vmax, cmap), interpolation="nearest")
        label = str(names[i]) if i < len(names) else str(i)
        label = label if len(label) <= 14 else "…" + label[-13:]
        ax.set_title(label if scores is None else f"{label}\nscore {scores[i]:.1f}", fontsize=7)
    sm = ScalarMappable(norm=Normalize(vmin, vmax if vmax > vmin else vmin + 1e-12), cmap=cmap)
    bar = fig.colorbar(sm, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02)
    bar.set_label("-log p(x|z) per pixel (nats)", fontsize=8)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buf.getvalue()
