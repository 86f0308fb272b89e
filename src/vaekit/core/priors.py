"""Priors p(z). A prior is a module whose ``forward()`` returns a Distribution over (latent_dim,)
and whose ``sample_latent(n, temperature, generator)`` draws (n, latent_dim) with every
component's scale multiplied by ``temperature``.

A prior that needs the rest of the model (the VampPrior encodes its pseudo-inputs) has
``attach(vae)``, which the VAE calls once; the reference is not a submodule, so no weight is
saved twice. The stacked prior of a hierarchy lives in ``hierarchy.py``, the code prior of a
VQ-VAE in ``vq.py``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, MultivariateNormal, Normal

from vaekit.errors import ModelError


class StandardNormal(nn.Module):
    """N(0, I). Buffers (not parameters) so it moves with the model and is never trained."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def forward(self) -> Distribution:
        return Independent(Normal(self.loc, self.scale, validate_args=False), 1)

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None and temperature == 1.0:
            return self().sample((n,))  # (n, D)
        eps = torch.randn((n, self.latent_dim), generator=generator, device=self.loc.device)  # (n, D)
        return self.loc + temperature * self.scale * eps


class MixturePrior(nn.Module):
    """A learned mixture of K diagonal Gaussians: sum_k pi_k N(mu_k, diag(sigma_k^2))."""

    def __init__(self, latent_dim: int, components: int):
        super().__init__()
        if components < 1:
            raise ModelError(f"model.prior_components must be at least 1, got {components}")
        self.latent_dim = latent_dim
        self.logits = nn.Parameter(torch.zeros(components))  # (K,)
        self.locs = nn.Parameter(torch.randn(components, latent_dim))  # (K, D) spread out, not collapsed
        self.pre_scales = nn.Parameter(torch.full((components, latent_dim), math.log(math.e - 1)))  # softplus -> 1

    def components(self) -> Distribution:
        """The K Gaussians as one distribution of batch shape (K,)."""
        return Independent(Normal(self.locs, F.softplus(self.pre_scales) + 1e-4, validate_args=False), 1)

    def forward(self) -> Distribution:
        return MixtureSameFamily(Categorical(logits=self.logits, validate_args=False), self.components(), validate_args=False)

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        k = torch.multinomial(torch.softmax(self.logits.detach(), 0), n, replacement=True, generator=generator)  # (n,)
        return _draw_component(self.components(), k, temperature, generator)


class VampPrior(nn.Module):
    """p(z) = 1/K sum_k q(z | u_k): the posterior at K learned pseudo-inputs u_k (Tomczak & Welling 2018)."""

    def __init__(self, latent_dim: int, components: int, data_shape: tuple[int, ...]):
        super().__init__()
        if components < 1:
            raise ModelError(f"model.prior_components must be at least 1, got {components}")
        self.latent_dim = latent_dim
        center = 0.5 if len(data_shape) == 3 else 0.0  # images live in [0, 1]; tables are standardised
        self.pseudo_inputs = nn.Parameter(center + 0.05 * torch.randn(components, *data_shape))  # (K, *data_shape)
        self._encode: Any = None

    def attach(self, vae: nn.Module) -> None:
        if getattr(vae, "condition", None) is not None:
            raise ModelError("model.prior='vamp' cannot be combined with model.conditional: use 'normal' or 'mixture'")
        self._encode = vae.encode  # a bound method, not a submodule: the encoder's weights stay where they are

    def components(self) -> Distribution:
        if self._encode is None:
            raise ModelError("a VampPrior must be attached to its VAE before use")
        qu = self._encode(self.pseudo_inputs)  # batch shape (K,)
        if not (isinstance(qu, MultivariateNormal) or isinstance(getattr(qu, "base_dist", None), Normal)):
            raise ModelError("model.prior='vamp' needs a Gaussian posterior: model.posterior 'diagonal' or 'full'")
        return qu

    def forward(self) -> Distribution:
        qu = self.components()
        k = self.pseudo_inputs.shape[0]
        mix = Categorical(logits=torch.zeros(k, device=self.pseudo_inputs.device), validate_args=False)
        return MixtureSameFamily(mix, qu, validate_args=False)

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        k_all = self.pseudo_inputs.shape[0]
        k = torch.randint(0, k_all, (n,), generator=generator, device=self.pseudo_inputs.device)  # (n,)
        return _draw_component(self.components(), k, temperature, generator)


def _draw_component(comps: Distribution, k: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One draw from component k[i] of a batch-(K,) Gaussian for every i, scales times temperature."""
    if isinstance(comps, MultivariateNormal):
        loc, tril = comps.loc[k], comps.scale_tril[k]  # (n, D), (n, D, D)
        eps = torch.randn(loc.shape, generator=generator, device=loc.device)  # (n, D)
        return loc + temperature * (tril @ eps.unsqueeze(-1)).squeeze(-1)
    base = comps.base_dist
    loc, scale = base.loc[k], base.scale[k]  # (n, D) each
    eps = torch.randn(loc.shape, generator=generator, device=loc.device)  # (n, D)
    return loc + temperature * scale * eps
