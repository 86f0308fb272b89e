"""Gaussian posteriors: diagonal (the usual VAE) and full covariance through a Cholesky factor."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from vaekit.registry import POSTERIORS, NoOptions


@POSTERIORS.register("diagonal", NoOptions)
class DiagonalGaussian(nn.Module):
    """q(z|x) = N(mu, diag(sigma^2)); the encoder emits (B, 2*latent_dim) = [mu, pre-scale]."""

    def __init__(self, latent_dim: int, options: NoOptions = NoOptions()):
        super().__init__()
        self.latent_dim = latent_dim
        self.params_out = 2 * latent_dim

    def forward(self, h: torch.Tensor) -> Distribution:
        mu, pre = h.chunk(2, dim=-1)  # (B, D) each
        # softplus keeps sigma positive without exp's overflow; the floor avoids log(0) in the KL
        scale = F.softplus(pre) + 1e-5
        return Independent(Normal(mu, scale, validate_args=False), 1)


@POSTERIORS.register("full", NoOptions)
class FullCovGaussian(nn.Module):
    """q(z|x) = N(mu, L L^T) with a lower-triangular Cholesky factor L (positive diagonal).

    The encoder emits (B, 2D + D(D-1)/2) = [mu, diagonal pre-scale, strictly-lower entries].
    The KL to a standard normal prior is closed-form (torch's MultivariateNormal KL).
    """

    rows: torch.Tensor  # buffer
    cols: torch.Tensor  # buffer

    def __init__(self, latent_dim: int, options: NoOptions = NoOptions()):
        super().__init__()
        self.latent_dim = latent_dim
        self.params_out = 2 * latent_dim + latent_dim * (latent_dim - 1) // 2
        rows, cols = torch.tril_indices(latent_dim, latent_dim, offset=-1)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)

    def forward(self, h: torch.Tensor) -> Distribution:
        d = self.latent_dim
        mu, pre, off = h[..., :d], h[..., d : 2 * d], h[..., 2 * d :]  # (B, D), (B, D), (B, D(D-1)/2)
        lower = h.new_zeros(*h.shape[:-1], d, d)  # (B, D, D)
        lower[..., self.rows, self.cols] = off
        tril = lower + torch.diag_embed(F.softplus(pre) + 1e-5)  # (B, D, D)
        return MultivariateNormal(mu, scale_tril=tril, validate_args=False)
