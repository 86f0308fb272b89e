"""The one VAE: encoder -> q(z|x) -> z -> decoder -> p(x|z), with a prior p(z).

Variants are parts passed in (likelihood, prior, posterior, networks, condition), never
subclasses. The model holds no loss and knows nothing of training: objectives live in
``objectives.py``, ``iwae.py`` and ``tc.py``. A conditional model (``condition`` given) reads a
label or covariate vector beside x in the encoder and beside z in the decoder.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution

from vaekit.core.condition import Condition
from vaekit.core.posteriors import reparameterize
from vaekit.errors import ModelError

__all__ = ["VAE", "reparameterize"]

ConditionLike = torch.Tensor | int | None  # labels (B,), covariates (B, C), or one label for all


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
        condition: Condition | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.posterior = posterior
        self.condition = condition  # a core.condition.Condition, or None: unconditional
        self.data_shape = tuple(data_shape)
        self.latent_dim = latent_dim
        attach = getattr(prior, "attach", None)
        if attach is not None:  # priors built from other parts (VampPrior, the VQ code prior)
            attach(self)

    @property
    def conditional(self) -> bool:
        return self.condition is not None

    @property
    def classes(self) -> int:
        """Width of the condition (a class-conditional model's number of classes); 0 when unconditional."""
        return self.condition.dim if self.condition is not None else 0

    def _condition(self, condition: ConditionLike, n: int, device: torch.device) -> torch.Tensor | None:
        """The (n, C) condition vectors, or None for an unconditional model."""
        if self.condition is None:
            if condition is not None:
                raise ModelError("this model is not conditional: do not pass a condition (labels)")
            return None
        if condition is None:
            raise ModelError(
                "this model is conditional: pass condition= (integer labels (B,), or covariates (B, C)); "
                "on the command line, --label"
            )
        return self.condition(condition, n, device)

    def encode(self, x: torch.Tensor, condition: ConditionLike = None) -> Distribution:
        """x (B, *data_shape) -> q(z|x) with batch shape (B,) and event shape (latent_dim,)."""
        c = self._condition(condition, x.shape[0], x.device)
        return self.posterior(self.encoder(x) if c is None else self.encoder(x, c))

    def decode(self, z: torch.Tensor, condition: ConditionLike = None) -> Distribution:
        """z (..., latent_dim) -> p(x|z) with event shape data_shape; leading dims are kept.
        A condition (B, ...) applies along the last leading dim (z may be (k, B, D))."""
        lead = z.shape[:-1]
        flat = z.reshape(-1, self.latent_dim)  # (prod(lead), D)
        if self.condition is not None:
            c = self._condition(condition, lead[-1] if lead else 1, z.device)  # (B, C)
            assert c is not None  # a conditional model always has condition vectors
            flat = torch.cat([flat, c.expand(*(lead or (1,)), c.shape[-1]).reshape(flat.shape[0], -1)], -1)
        h = self.decoder(flat)  # (prod(lead), P*C, ...)
        return self.likelihood(h.reshape(*lead, *h.shape[1:]))  # batch shape lead

    def prior_dist(self) -> Distribution:
        return self.prior()

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor | None = None, condition: ConditionLike = None
    ) -> tuple[Distribution, torch.Tensor, Distribution]:
        """q(z|x), a reparameterised z (B, D), p(x|z). ``eps`` (B, D) fixes the standard-normal noise
        (the trainer draws it itself so that sharded and single-process runs see the same draws);
        an ``eps`` of (k, B, D) gives k draws per example, z (k, B, D) and p(x|z) of batch (k, B)."""
        qz = self.encode(x, condition)
        z = qz.rsample() if eps is None else reparameterize(qz, eps)  # (B, D) or (k, B, D)
        return qz, z, self.decode(z, condition)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
        mean: bool = True,
        condition: ConditionLike = None,
    ) -> torch.Tensor:
        """n draws from the model: z ~ p(z) (scaled by ``temperature``), then the mean of p(x|z)
        (``mean=True``, the usual picture) or a draw from it. Returns (n, *data_shape).
        A class-conditional model without ``condition`` cycles through the classes 0, 1, ..."""
        z = self.sample_latent(n, temperature, generator)
        if self.condition is not None and condition is None:
            condition = self.condition.default(n, z.device)
        px = self.decode(z, condition)
        return px.mean if mean else px.sample()

    @torch.no_grad()
    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        """(n, latent_dim) draws from p(z), every scale multiplied by ``temperature``."""
        draw = getattr(self.prior, "sample_latent", None)
        if draw is not None:
            return draw(n, temperature, generator)
        if temperature != 1.0 or generator is not None:
            raise ModelError(f"the prior {type(self.prior).__name__} supports neither a temperature nor a generator")
        return self.prior().sample((n,))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, sample_z: bool = False, condition: ConditionLike = None) -> torch.Tensor:
        """Mean of p(x|z) at the posterior mean (or a posterior draw). (B, *data_shape)."""
        qz = self.encode(x, condition)
        z = qz.sample() if sample_z else qz.mean
        return self.decode(z, condition).mean
