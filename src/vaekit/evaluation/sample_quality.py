"""Sample quality: Fréchet distance and k-NN precision/recall between generated and real examples,
in the feature space of a feature extractor.

The usual extractor for images is Inception-v3 (FID), but its weights cannot be downloaded on
machines without network access, and ImageNet features say little about 28x28 digits anyway.
vaekit's default is a small CNN classifier it trains on the dataset's own labels (``extractor.py``);
any callable (N, C, H, W) -> (N, F) can be passed instead (an Inception wrapper where its weights
are available). Scores are reported with the extractor's id and are only comparable under the
same id: an FD under one extractor says nothing about an FD under another.

- Fréchet distance: ||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^{1/2}) between Gaussians fitted
  to the two feature sets, computed in float64 as Tr((S_r^{1/2} S_g S_r^{1/2})^{1/2}) via
  symmetric eigendecompositions (no scipy).
- Precision / recall (Kynkäänniemi et al. 2019): each set's manifold is the union of balls around
  its points with radius the distance to the k-th nearest neighbour within the set (k = 3).
  Precision is the fraction of generated points inside the real manifold; recall is the fraction
  of real points inside the generated manifold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from vaekit.core.draws import base_seed
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError

FeatureExtractor = Callable[[torch.Tensor], torch.Tensor]  # (N, C, H, W) -> (N, F)
NN_K = 3


def _sqrtm_psd(a: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric PSD matrix (float64)."""
    vals, vecs = torch.linalg.eigh((a + a.T) / 2)
    return (vecs * vals.clamp_min(0).sqrt()) @ vecs.T


def frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein) distance squared between N(mu1, cov1) and N(mu2, cov2)."""
    mu1, mu2, cov1, cov2 = (t.double() for t in (mu1, mu2, cov1, cov2))
    root1 = _sqrtm_psd(cov1)
    middle = root1 @ cov2 @ root1  # (F, F) symmetric PSD, same eigenvalues as cov1 @ cov2
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt)


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (F,) and covariance (F, F) of features (N, F), float64, unbiased."""
    f = features.double()
    if f.shape[0] < 2:
        raise ConfigError("a Fréchet distance needs at least 2 examples in each set")
    return f.mean(0), torch.cov(f.T)


def frechet_distance_features(real: torch.Tensor, generated: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, F) and (M, F)."""
    return frechet_distance(*feature_statistics(real), *feature_statistics(generated))


def knn_radii(features: torch.Tensor, k: int = NN_K, chunk: int = 1024) -> torch.Tensor:
    """Distance from each point (N, F) to its k-th nearest neighbour in the same set, itself excluded: (N,)."""
    f = features.double()
    if f.shape[0] <= k:
        raise ConfigError(f"k-NN precision/recall with k={k} needs more than {k} points per set, got {f.shape[0]}")
    out = []
    for i in range(0, f.shape[0], chunk):
        d = torch.cdist(f[i : i + chunk], f)  # (c, N), includes the zero distance to itself
        out.append(d.topk(k + 1, dim=1, largest=False).values[:, k])  # (c,)
    return torch.cat(out)


def coverage(points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 1024) -> float:
    """Fraction of points (M, F) inside at least one ball (centres (N, F), radii (N,))."""
    p, c = points.double(), centres.double()
    inside = 0
    for i in range(0, p.shape[0], chunk):
        d = torch.cdist(p[i : i + chunk], c)  # (m, N)
        inside += int((d <= radii[None, :]).any(1).sum())
    return inside / max(p.shape[0], 1)


def precision_recall(real: torch.Tensor, generated: torch.Tensor, k: int = NN_K) -> tuple[float, float]:
    """(precision, recall) of generated features (M, F) against real features (N, F)."""
    precision = coverage(generated, real, knn_radii(real, k))
    recall = coverage(real, generated, knn_radii(generated, k))
    return precision, recall


@dataclass(frozen=True)
class SampleQualityResult:
    fd: float
    precision: float
    recall: float
    extractor_id: str
    n_real: int
    n_generated: int
    sample_mode: str  # "mean" of p(x|z) or a "draw" x ~ p(x|z)
    nn_k: int


def extract(extractor: FeatureExtractor, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """Features of x (N, ...) in batches: (N, F) float64 on the CPU."""
    parts = [extractor(x[i : i + batch_size]).detach().double().cpu() for i in range(0, x.shape[0], batch_size)]
    feats = torch.cat(parts)
    if feats.dim() != 2 or feats.shape[0] != x.shape[0]:
        raise ConfigError(
            f"a feature extractor must map (N, C, H, W) to (N, F); got {tuple(feats.shape)} for {x.shape[0]} inputs"
        )
    return feats


@torch.inference_mode()
def sample_quality(
    model: VAE,
    real: torch.Tensor,
    extractor: FeatureExtractor,
    extractor_id: str,
    *,
    n_generated: int | None = None,
    sample_mode: str = "mean",
    generator: torch.Generator | None = None,
    batch_size: int = 1000,
    k: int = NN_K,
) -> SampleQualityResult:
    """FD and precision/recall of ``n_generated`` model samples (default: as many as ``real``)
    against the real examples (N, *shape). ``sample_mode``: "mean" of p(x|z) or a "draw"."""
    if sample_mode not in ("mean", "draw"):
        raise ConfigError(f"sample_mode must be 'mean' or 'draw', got {sample_mode!r}")
    n = n_generated if n_generated is not None else real.shape[0]
    if n < 2:
        raise ConfigError(f"n_generated must be at least 2, got {n}")
    with torch.random.fork_rng(devices=[]):  # draws from p(x|z) use the global generator: seed it, then restore it
        torch.manual_seed(base_seed(generator))
        fake = torch.cat(
            [model.sample(min(batch_size, n - i), mean=sample_mode == "mean").cpu() for i in range(0, n, batch_size)]
        )
    f_real, f_fake = extract(extractor, real, batch_size), extract(extractor, fake, batch_size)
    precision, recall = precision_recall(f_real, f_fake, k)
    return SampleQualityResult(
        fd=frechet_distance_features(f_real, f_fake),
        precision=precision,
        recall=recall,
        extractor_id=extractor_id,
        n_real=int(real.shape[0]),
        n_generated=n,
        sample_mode=sample_mode,
        nn_k=k,
    )
