"""Embedding a dataset: latent codes for every example, and a 2-D projection to look at.

``latents`` runs the encoder over a whole split in batches (posterior means, or one draw per
example); ``project_2d`` maps (N, D) codes to (N, 2) points: unchanged when D = 2 ("direct"),
else PCA or t-SNE (scikit-learn) or UMAP (``umap-learn``); ``embed`` does both and
``save_embedding`` writes the result as one ``.npz`` file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from vaekit.checkpoint import atomic_write_bytes
from vaekit.core.inference import posterior_stats
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError, VaekitError

Method = Literal["auto", "direct", "pca", "tsne", "umap"]
METHODS: tuple[str, ...] = ("auto", "direct", "pca", "tsne", "umap")


@dataclass(frozen=True)
class Projection:
    points: np.ndarray  # (N, 2) float64
    method: str  # the method actually used ("auto" resolved)
    axis_names: tuple[str, str]  # for plot axes, e.g. ("PC 1 (41% var.)", "PC 2 (17% var.)")


@dataclass(frozen=True)
class Embedding:
    z: np.ndarray  # (N, D) float32 latent codes
    projection: Projection
    labels: np.ndarray | None  # (N,) int64, when the data has labels
    sampled: bool  # z are draws from q(z|x) rather than its means
    class_names: tuple[str, ...] = ()


def latents(
    model: VAE,
    x: torch.Tensor,
    *,
    sample: bool = False,
    batch_size: int = 1024,
    generator: torch.Generator | None = None,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """Latent codes of every row of ``x`` (N, *data_shape) -> (N, D): the posterior means, or with
    ``sample=True`` one reparameterised draw mean + stddev * eps per example (eps from ``generator``).
    ``condition`` (N,) holds the rows' labels for a conditional model (q(z | x, label))."""
    stats = posterior_stats(model, x, batch_size=batch_size, condition=condition)
    if not sample:
        return stats.mean  # (N, D)
    eps = torch.randn(stats.mean.shape, generator=generator, dtype=stats.mean.dtype)  # (N, D)
    return stats.mean + stats.stddev * eps  # (N, D)


def resolve_method(method: str, latent_dim: int) -> str:
    """``auto`` -> ``direct`` for D <= 2, else ``pca``; any other name is checked."""
    if method not in METHODS:
        raise ConfigError(f"unknown projection method {method!r}: use one of {', '.join(METHODS)}")
    if method == "auto":
        return "direct" if latent_dim <= 2 else "pca"
    if method == "direct" and latent_dim > 2:
        raise ConfigError(
            f"method 'direct' plots the latent codes as they are, which needs D <= 2, but the model has "
            f"D = {latent_dim}; use --method pca, tsne or umap"
        )
    return method


def project_2d(z: np.ndarray, method: str = "auto", *, seed: int = 0, perplexity: float = 30.0) -> Projection:
    """(N, D) codes -> (N, 2) points.

    ``direct`` returns the codes unchanged for D = 2 (D = 1 gets a zero second column); ``pca`` is
    scikit-learn's PCA with the exact (full SVD) solver; ``tsne`` is scikit-learn's t-SNE with PCA
    initialisation (its perplexity is capped below N / 3 for small N); ``umap`` needs ``umap-learn``.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2:
        raise ConfigError(f"latent codes must be an (N, D) array, got shape {z.shape}")
    n, d = z.shape
    method = resolve_method(method, d)
    if method == "direct":
        points = z if d == 2 else np.concatenate([z, np.zeros((n, 2 - d))], axis=1)  # (N, 2)
        names = ("z[0]", "z[1]") if d == 2 else ("z[0]", "(none)")
        return Projection(points, "direct", names)
    if d < 2:
        raise ConfigError(f"a 1-D latent has nothing to project: use method 'direct' (or 'auto'), not {method!r}")
    if n < 3:
        raise ConfigError(f"a {method} projection needs at least 3 examples, got {n}")
    if method == "umap":
        return _umap(z, seed)
    try:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE
    except ImportError:
        raise VaekitError(f"method {method!r} needs scikit-learn: pip install 'vaekit[sklearn]'") from None
    if method == "pca":
        pca = PCA(n_components=2, svd_solver="full", random_state=seed)
        points = pca.fit_transform(z)  # (N, 2)
        ratio = pca.explained_variance_ratio_
        return Projection(points, "pca", (f"PC 1 ({ratio[0]:.0%} var.)", f"PC 2 ({ratio[1]:.0%} var.)"))
    # t-SNE: perplexity must stay below the number of points; N / 3 keeps neighbourhoods meaningful
    perp = float(min(perplexity, max(1.0, (n - 1) / 3)))
    tsne = TSNE(n_components=2, perplexity=perp, init="pca", random_state=seed)
    return Projection(tsne.fit_transform(z), "tsne", ("t-SNE 1", "t-SNE 2"))


def _umap(z: np.ndarray, seed: int) -> Projection:
    try:
        import umap
    except ImportError:
        raise VaekitError(
            "method 'umap' needs the umap-learn package: pip install umap-learn (or use --method pca or tsne)"
        ) from None
    points = umap.UMAP(n_components=2, random_state=seed).fit_transform(z)  # (N, 2)
    return Projection(np.asarray(points, dtype=np.float64), "umap", ("UMAP 1", "UMAP 2"))


def embed(
    model: VAE,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    *,
    method: str = "auto",
    sample: bool = False,
    seed: int = 0,
    batch_size: int = 1024,
    class_names: tuple[str, ...] = (),
    condition: torch.Tensor | None = None,
) -> Embedding:
    """Encode ``x`` (N, *data_shape) and project the codes to 2-D; labels ``y`` (N,) ride along.
    A conditional model encodes q(z | x, label) with ``condition`` (N,), usually ``y`` itself."""
    if y is not None and len(y) != len(x):
        raise ConfigError(f"{len(y)} labels for {len(x)} examples")
    if len(x) == 0:
        raise ConfigError("there are no examples to embed: the split is empty")
    method = resolve_method(method, model.latent_dim)  # fail before the (possibly long) encoding
    gen = torch.Generator().manual_seed(seed)
    z = latents(model, x, sample=sample, batch_size=batch_size, generator=gen, condition=condition).numpy()  # (N, D)
    labels = None if y is None else y.cpu().numpy().astype(np.int64)
    return Embedding(z, project_2d(z, method, seed=seed), labels, sample, tuple(class_names))


def save_embedding(emb: Embedding, path: str | Path) -> None:
    """Write ``z`` (N, D), ``projection`` (N, 2), ``method``, ``axis_names``, ``sampled`` and, when
    known, ``labels`` (N,) and ``class_names`` to one ``.npz`` file (atomically; no pickled objects)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ConfigError(f"--out {path}: latent codes are written as a .npz file, e.g. latents.npz")
    arrays: dict[str, np.ndarray] = {
        "z": emb.z.astype(np.float32),
        "projection": emb.projection.points.astype(np.float32),
        "method": np.array(emb.projection.method),
        "axis_names": np.array(emb.projection.axis_names),
        "sampled": np.array(emb.sampled),
    }
    if emb.labels is not None:
        arrays["labels"] = emb.labels
    if emb.class_names:
        arrays["class_names"] = np.array(emb.class_names)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=False, **arrays)
    atomic_write_bytes(path, buf.getvalue())
