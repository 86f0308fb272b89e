"""The standard normal prior N(0, I)."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

from vaekit.registry import PRIORS, NoOptions


@PRIORS.register("normal", NoOptions)
class StandardNormal(nn.Module):
    """N(0, I). Buffers (not parameters) so it moves with the model and is never trained."""

    loc: torch.Tensor  # buffer
    scale: torch.Tensor  # buffer

    def __init__(self, latent_dim: int, data_shape: tuple[int, ...] = (), options: NoOptions = NoOptions()):
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
