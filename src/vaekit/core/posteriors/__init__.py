"""Posteriors q(z|x): one registered family per file in this package.

A posterior is a module with ``latent_dim`` and ``params_out`` (how many numbers per example the
encoder must emit) that turns the encoder output into a Distribution over (latent_dim,). Its
distribution can be driven by standard-normal noise ``eps`` (B, D) through :func:`reparameterize`,
so the trainer can draw the noise of a whole global batch itself. A posterior that brings its own
prior (the VQ codebook's code prior) has ``own_prior()``. Stacked layers live in ``core/hierarchy.py``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from vaekit.registry import POSTERIORS


@runtime_checkable
class PosteriorPart(Protocol):
    """What the VAE needs of a posterior: encoder output (B, params_out) -> q(z|x) of batch (B,)."""

    latent_dim: int
    params_out: int

    def __call__(self, h: torch.Tensor) -> Distribution: ...


def build_posterior(kind: str, latent_dim: int, options: Any = None) -> Any:
    """The registered posterior ``kind`` over ``latent_dim`` dimensions."""
    entry = POSTERIORS.get(kind)
    return entry.factory(latent_dim, entry.options() if options is None else options)


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

    if isinstance(qz, Independent) and isinstance(qz.base_dist, Normal):
        base = qz.base_dist
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


from vaekit.core.posteriors.gaussian import DiagonalGaussian, FullCovGaussian  # noqa: E402  (for direct use)

__all__ = ["DiagonalGaussian", "FullCovGaussian", "PosteriorPart", "build_posterior", "reparameterize", "stop_gradient"]
