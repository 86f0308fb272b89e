"""The one VAE: encoder -> q(z|x) -> z -> decoder -> p(x|z), with a prior p(z).

Variants are parts passed in (likelihood, prior, posterior, networks), never subclasses. The
model holds no loss and knows nothing of training: objectives live in ``objectives.py``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal


class VAE(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        decoder: nn.Module,
        likelihood: nn.Module,
        prior: nn.Module,
        posterior: nn.Module,
        data_shape: tuple[int, ...],
        latent_dim: int,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.posterior = posterior
        self.data_shape = tuple(data_shape)
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> Distribution:
        """x (B, *data_shape) -> q(z|x) with batch shape (B,) and event shape (latent_dim,)."""
        return self.posterior(self.encoder(x))

    def decode(self, z: torch.Tensor) -> Distribution:
        """z (..., latent_dim) -> p(x|z) with event shape data_shape; leading dims are kept."""
        lead = z.shape[:-1]
        h = self.decoder(z.reshape(-1, self.latent_dim))  # (prod(lead), P*C, ...)
        return self.likelihood(h.reshape(*lead, *h.shape[1:]))  # batch shape lead

    def prior_dist(self) -> Distribution:
        return self.prior()

    def forward(self, x: torch.Tensor, eps: torch.Tensor | None = None) -> tuple[Distribution, torch.Tensor, Distribution]:
        """q(z|x), a reparameterised z (B, D), p(x|z). ``eps`` (B, D) fixes the standard-normal noise
        (the trainer draws it itself so that sharded and single-process runs see the same draws)."""
        qz = self.encode(x)
        z = qz.rsample() if eps is None else reparameterize(qz, eps)  # (B, D)
        return qz, z, self.decode(z)

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None, mean: bool = True
    ) -> torch.Tensor:
        """n draws from the model: z ~ p(z) (scaled by ``temperature``), then the mean of p(x|z)
        (``mean=True``, the usual picture) or a draw from it. Returns (n, *data_shape)."""
        z = self.sample_latent(n, temperature, generator)
        px = self.decode(z)
        return px.mean if mean else px.sample()

    @torch.no_grad()
    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        pz = self.prior()
        device = next(self.parameters()).device
        if generator is None and temperature == 1.0:
            return pz.sample((n,))
        # a reparameterised draw with our own generator: loc + temperature * scale * eps
        base = pz.base_dist
        eps = torch.randn((n, self.latent_dim), generator=generator, device=device)
        return base.loc + temperature * base.scale * eps

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, sample_z: bool = False) -> torch.Tensor:
        """Mean of p(x|z) at the posterior mean (or a posterior draw). (B, *data_shape)."""
        qz = self.encode(x)
        z = qz.sample() if sample_z else qz.mean
        return self.decode(z).mean


def reparameterize(qz: Distribution, eps: torch.Tensor) -> torch.Tensor:
    """z = loc + scale * eps for Gaussian posteriors; other posteriors draw their own noise."""
    base = qz.base_dist if isinstance(qz, Independent) else qz
    if isinstance(base, Normal):
        return base.loc + base.scale * eps
    return qz.rsample()
