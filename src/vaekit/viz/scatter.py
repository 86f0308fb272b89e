"""Scatter plots of 2-D points (latent codes or their projections), coloured by label."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vaekit.viz.grids import require_matplotlib

MAX_LEGEND_CLASSES = 20  # more distinct labels than this get a colorbar instead of a legend


def save_figure(fig, path: str | Path, dpi: int = 100) -> None:
    """Render a matplotlib figure to PNG in memory, then write it atomically; closes the figure."""
    from vaekit.checkpoint import atomic_write_bytes

    plt = require_matplotlib()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())


def save_scatter(
    points: np.ndarray,
    path: str | Path,
    labels: np.ndarray | None = None,
    class_names: Sequence[str] = (),
    axis_names: tuple[str, str] = ("1", "2"),
    title: str = "",
) -> None:
    """Plot (N, 2) points to a PNG. With labels (N,): one colour per class and a legend naming the
    classes (``class_names[label]`` when given), or a colorbar when there are more than 20 classes."""
    plt = require_matplotlib()
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got {points.shape}")
    n = len(points)
    size = float(np.clip(3000.0 / max(n, 1), 1.0, 25.0))  # small dots for big N
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=size, alpha=0.7, linewidths=0, color="tab:blue")
    else:
        labels = np.asarray(labels)
        classes = np.unique(labels)
        if len(classes) <= MAX_LEGEND_CLASSES:
            cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
            for i, c in enumerate(classes):
                m = labels == c
                name = class_names[int(c)] if 0 <= int(c) < len(class_names) else str(c)
                ax.scatter(points[m, 0], points[m, 1], s=size, alpha=0.7, linewidths=0, color=cmap(i), label=name)
            legend = ax.legend(
                loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, markerscale=max(1.0, 6.0 / size**0.5)
            )
            handles = getattr(legend, "legend_handles", None) or getattr(legend, "legendHandles", [])  # renamed in 3.7
            for handle in handles:
                handle.set_alpha(1.0)
        else:
            sc = ax.scatter(points[:, 0], points[:, 1], c=labels, s=size, alpha=0.7, linewidths=0, cmap="viridis")
            fig.colorbar(sc, ax=ax, label="label")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    if title:
        ax.set_title(title)
    save_figure(fig, path)
