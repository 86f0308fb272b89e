"""Posteriors q(z|x): modules turning encoder output into a Distribution over (latent_dim,)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, Normal


class DiagonalGaussian(nn.Module):
    """q(z|x) = N(mu, diag(sigma^2)); the encoder emits (B, 2*latent_dim) = [mu, pre-scale]."""

    def __init__(self, latent_dim: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.params_out = 2 * latent_dim

    def forward(self, h: torch.Tensor) -> Distribution:
        mu, pre = h.chunk(2, dim=-1)  # (B, D) each
        # softplus keeps sigma positive without exp's overflow; the floor avoids log(0) in the KL
        scale = F.softplus(pre) + 1e-5
        return Independent(Normal(mu, scale, validate_args=False), 1)
