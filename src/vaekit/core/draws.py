"""The one seeded-draw scheme of vaekit: posterior draws that do not depend on how the work is chunked.

Every example gets its own random stream, seeded from one base seed and the example's index in the
evaluated tensor, and its draws are taken from that stream in sample order. So the j-th draw for
example i is the same whatever ``batch_size`` and ``k_chunk`` are: chunking changes memory and
speed, never the number. Normals come from uniforms by Box-Muller because torch's CPU ``rand`` is
serial (``rand(a)`` then ``rand(b)`` equals ``rand(a + b)``), while ``randn`` is not. Evaluation,
anomaly scores and the scikit-learn estimators all draw through here; :func:`draw` gives seeded
draws from any other distribution (p(x|z) of any likelihood).
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

_MASK64 = (1 << 64) - 1


def make_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def draw(dist: Distribution, generator: torch.Generator, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
    """One draw of shape (*sample_shape, *dist.batch_shape, *dist.event_shape), seeded by ``generator``.

    ``Distribution.sample`` takes no generator, so this takes one seed from ``generator`` and samples
    inside a forked CPU RNG: the global RNG is untouched and the same generator state gives the same
    draws, for every distribution (Bernoulli, Normal, discretized logistic, ...) without a case per type."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would also queue CUDA seeding
        return dist.sample(torch.Size(sample_shape))


def base_seed(generator: torch.Generator | None) -> int:
    """One 62-bit seed from ``generator`` (or torch's global generator when None)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


def _mix(seed: int, index: int) -> int:
    """SplitMix64 of (seed, index), folded to 32 bits (all that torch's mt19937 seeding uses)."""
    z = (seed + 0x9E3779B97F4A7C15 * (index + 1)) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    z ^= z >> 31
    return (z ^ (z >> 32)) & 0xFFFFFFFF


class ExampleStreams:
    """Independent normal streams for examples ``start, ..., start + n - 1`` under one base seed."""

    def __init__(self, seed: int, start: int, n: int):
        self.generators = [torch.Generator().manual_seed(_mix(seed, start + i)) for i in range(n)]

    def normal(self, count: int, dim: int) -> torch.Tensor:
        """The next ``count`` draws of N(0, I_dim) for every example: (count, n, dim) float32."""
        half = (dim + 1) // 2
        u = torch.stack([torch.rand(count, 2, half, generator=g) for g in self.generators], 1)  # (count, n, 2, half)
        r = torch.sqrt(-2.0 * torch.log1p(-u[:, :, 0]))  # (count, n, half); 1 - u in (0, 1]
        theta = (2.0 * math.pi) * u[:, :, 1]  # (count, n, half)
        return torch.cat([r * torch.cos(theta), r * torch.sin(theta)], -1)[..., :dim]  # (count, n, dim)


def cholesky_parts(qz: Distribution) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(loc (B, D), scale_tril (B, D, D)) when q(z|x) is a full-covariance Gaussian; else None."""
    if isinstance(qz, MultivariateNormal):
        return qz.loc, qz.scale_tril
    return None


def gaussian_parts(qz: Distribution) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(loc, scale), each (B, D), when q(z|x) is a diagonal Gaussian; else None."""
    if isinstance(qz, Independent) and isinstance(qz.base_dist, Normal) and qz.reinterpreted_batch_ndims == 1:
        return qz.base_dist.loc, qz.base_dist.scale
    return None


def posterior_draws(qz: Distribution, streams: ExampleStreams, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` draws z ~ q(z|x) per example and their log q(z|x): (count, B, D), (count, B).

    Gaussians (diagonal or full covariance) use the per-example streams (chunk-invariant) and
    compute log q from the standard-normal draw itself, which is exact even for very narrow
    posteriors. Any other posterior (flows, codebooks) falls back to its own ``sample`` (torch's
    global generator), so its numbers depend on the chunking.
    """
    diag, full = gaussian_parts(qz), cholesky_parts(qz)
    if diag is not None:
        loc, scale = diag  # (B, D) each
        eps = streams.normal(count, loc.shape[-1]).to(device=loc.device, dtype=loc.dtype)  # (count, B, D)
        z = loc + scale * eps  # (count, B, D)
        log_det = scale.log().sum(-1)  # (B,)
    elif full is not None:
        loc, tril = full  # (B, D), (B, D, D)
        eps = streams.normal(count, loc.shape[-1]).to(device=loc.device, dtype=loc.dtype)  # (count, B, D)
        z = loc + (tril @ eps.unsqueeze(-1)).squeeze(-1)  # (count, B, D)
        log_det = tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)  # (B,)
    else:
        z = qz.sample((count,))  # (count, B, D)
        return z, qz.log_prob(z)
    d = loc.shape[-1]
    log_q = -0.5 * eps.pow(2).sum(-1) - log_det - 0.5 * d * math.log(2 * math.pi)  # (count, B)
    return z, log_q
