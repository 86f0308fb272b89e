"""A learned mixture of diagonal Gaussians as the prior."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, MixtureSameFamily, Normal

from vaekit.config_checks import integer
from vaekit.registry import PRIORS


@dataclass(frozen=True)
class MixtureOptions:
    components: int = 10  # K mixture components

    def __post_init__(self) -> None:
        integer("model.prior.components", self.components, 1)


@PRIORS.register("mixture", MixtureOptions)
class MixturePrior(nn.Module):
    """A learned mixture of K diagonal Gaussians: sum_k pi_k N(mu_k, diag(sigma_k^2))."""

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...] = (), options: MixtureOptions = MixtureOptions()):
        super().__init__()
        components = options.components
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
        from vaekit.core.priors import draw_component

        k = torch.multinomial(torch.softmax(self.logits.detach(), 0), n, replacement=True, generator=generator)  # (n,)
        return draw_component(self.components(), k, temperature, generator)
