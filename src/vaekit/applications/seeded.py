"""Reproducible draws from any torch Distribution with our own ``torch.Generator``.

``Distribution.sample`` takes no generator, so a draw takes one 63-bit seed from the caller's
generator and samples inside a forked CPU RNG: the global RNG is untouched and the same
generator state gives the same draws, for every distribution (Bernoulli, Normal, discretized
logistic, ...) without a case per type.
"""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Independent, Normal


def make_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


def draw(dist: Distribution, generator: torch.Generator, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
    """One draw of shape (*sample_shape, *dist.batch_shape, *dist.event_shape), seeded by ``generator``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # CPU only: torch.manual_seed would also queue CUDA seeding
        return dist.sample(torch.Size(sample_shape))


def example_seed(seed: int, index: int) -> int:
    """A seed for example ``index`` under base ``seed`` (a SplitMix64 step, 63 bits)."""
    z = (seed * 0x9E3779B97F4A7C15 + (index + 1) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 31)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 29)) >> 1


def per_example_draws(qz: Distribution, seed: int, start: int, count: int) -> torch.Tensor:
    """``count`` draws from q(z|x) for examples ``start, start + 1, ...``: (count, B, D).

    For a diagonal Gaussian each example's noise comes from its own stream, so an example's draws
    depend on (seed, its index) and not on how the data is batched. Other posteriors fall back to
    one seeded draw for the batch.
    """
    base = qz.base_dist if isinstance(qz, Independent) else None
    if not isinstance(base, Normal):
        return draw(qz, make_generator(example_seed(seed, start)), (count,))
    loc, scale = base.loc, base.scale  # (B, D)
    eps = torch.stack(
        [torch.randn(count, loc.shape[-1], generator=make_generator(example_seed(seed, start + i))) for i in range(loc.shape[0])],
        dim=1,
    )  # (count, B, D)
    return loc + scale * eps.to(loc.device, loc.dtype)
