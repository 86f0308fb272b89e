"""Priors p(z): one registered family per file in this package.

A prior is a module whose ``forward()`` returns a Distribution over (latent_dim,) and whose
``sample_latent(n, temperature, generator)`` draws (n, latent_dim) with every component's scale
multiplied by ``temperature``. A prior that needs the rest of the model (the VampPrior encodes its
pseudo-inputs) has ``attach(vae)``, which the VAE calls once; the reference is not a submodule, so
no weight is saved twice. The stacked prior of a hierarchy lives in ``core/hierarchy.py``, the code
prior of a VQ-VAE beside its posterior (``core/posteriors/vq.py``).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch.distributions import Distribution, MultivariateNormal

from vaekit.registry import PRIORS


@runtime_checkable
class PriorPart(Protocol):
    """What the VAE needs of a prior."""

    latent_dim: int

    def __call__(self) -> Distribution: ...

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor: ...


def build_prior(kind: str, latent_dim: int, data_shape: tuple[int, ...], options: Any = None) -> Any:
    """The registered prior ``kind`` over ``latent_dim`` dimensions (``data_shape``: for pseudo-inputs)."""
    entry = PRIORS.get(kind)
    return entry.factory(latent_dim, tuple(data_shape), entry.options() if options is None else options)


def draw_component(comps: Distribution, k: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One draw from component k[i] of a batch-(K,) Gaussian for every i, scales times temperature."""
    if isinstance(comps, MultivariateNormal):
        loc, tril = comps.loc[k], comps.scale_tril[k]  # (n, D), (n, D, D)
        eps = torch.randn(loc.shape, generator=generator, device=loc.device)  # (n, D)
        return loc + temperature * (tril @ eps.unsqueeze(-1)).squeeze(-1)
    base = comps.base_dist  # type: ignore[attr-defined]
    loc, scale = base.loc[k], base.scale[k]  # (n, D) each
    eps = torch.randn(loc.shape, generator=generator, device=loc.device)  # (n, D)
    return loc + temperature * scale * eps


from vaekit.core.priors.mixture import MixturePrior  # noqa: E402  (the families, for direct use)
from vaekit.core.priors.normal import StandardNormal  # noqa: E402
from vaekit.core.priors.vamp import VampPrior  # noqa: E402

__all__ = ["MixturePrior", "PriorPart", "StandardNormal", "VampPrior", "build_prior", "draw_component"]
