"""Posteriors q(z|x): modules turning encoder output into a Distribution over (latent_dim,).

Every posterior module has ``latent_dim`` and ``params_out`` (how many numbers per example the
encoder must emit). Its distribution can be driven by standard-normal noise ``eps`` (B, D) through
:func:`reparameterize`, so the trainer can draw the noise of a whole global batch itself.
Flows (``flows.py``), stacked layers (``hierarchy.py``) and codebooks (``vq.py``) live beside.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal


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


class FullCovGaussian(nn.Module):
    """q(z|x) = N(mu, L L^T) with a lower-triangular Cholesky factor L (positive diagonal).

    The encoder emits (B, 2D + D(D-1)/2) = [mu, diagonal pre-scale, strictly-lower entries].
    The KL to a standard normal prior is closed-form (torch's MultivariateNormal KL).
    """

    def __init__(self, latent_dim: int):
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


def reparameterize(qz: Distribution, eps: torch.Tensor) -> torch.Tensor:
    """A draw of q(z|x) driven by standard-normal ``eps`` (*S, B, D): loc + scale * eps for Gaussians,
    ``qz.rsample_from(eps)`` for the posteriors that define it (flows, stacked layers, codebooks)."""
    base = qz.base_dist if isinstance(qz, Independent) else qz
    if isinstance(base, Normal):
        return base.loc + base.scale * eps
    if isinstance(qz, MultivariateNormal):
        return qz.loc + (qz.scale_tril @ eps.unsqueeze(-1)).squeeze(-1)
    rsample_from = getattr(qz, "rsample_from", None)
    if rsample_from is not None:
        return rsample_from(eps)
    return qz.rsample(eps.shape[: eps.dim() - 1 - len(qz.batch_shape)])


def stop_gradient(qz: Distribution) -> Distribution:
    """The same q(z|x) with its parameters cut from the graph: ``log_prob(z)`` still carries the
    gradient through z. What the doubly reparameterized (DReG) IWAE gradient needs."""
    from vaekit.errors import ModelError

    base = qz.base_dist if isinstance(qz, Independent) else None
    if isinstance(base, Normal):
        return Independent(Normal(base.loc.detach(), base.scale.detach(), validate_args=False), qz.reinterpreted_batch_ndims)
    if isinstance(qz, MultivariateNormal):
        return MultivariateNormal(qz.loc.detach(), scale_tril=qz.scale_tril.detach(), validate_args=False)
    stopped = getattr(qz, "stop_gradient", None)
    if stopped is not None:
        return stopped()
    raise ModelError(
        f"train.iwae_estimator='dreg' needs a posterior whose density can be evaluated with frozen parameters; "
        f"{type(qz).__name__} cannot: use model.posterior diagonal, full or a stacked (latent_dims) model, "
        "or train.iwae_estimator='iwae'"
    )
