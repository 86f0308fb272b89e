"""The ELBO: one computation of its terms, used by training, validation, evaluation and anomaly scores.

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z))

:func:`elbo_parts` gives the per-example terms at given posterior draws; :func:`elbo` is the
training loss built from them (beta weight, free bits, capacity), returned as :class:`ELBOTerms`
with names that match logs, metrics files and docs: ``loss``, ``recon_nll``, ``kl``, ``elbo``. All
scalar terms are per-example means over the batch, in nats. Other bounds (``iwae.py``, ``tc.py``)
return the same dataclass and put what only they report in ``extras``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal, kl_divergence

from vaekit.core.posteriors import reparameterize
from vaekit.core.vae import VAE, ConditionLike


@dataclass(frozen=True)
class ELBOTerms:
    loss: torch.Tensor  # scalar to minimise: recon_nll + kl_weight * kl (after free bits)
    recon_nll: torch.Tensor  # scalar: E_q[-log p(x|z)], batch mean
    kl: torch.Tensor  # scalar: KL(q(z|x) || p(z)), batch mean (exact where a closed form exists)
    elbo: torch.Tensor  # scalar: -(recon_nll + kl), the unweighted bound
    kl_per_dim: torch.Tensor | None  # (D,) batch-mean KL of each latent dimension, when factorised
    elbo_per_example: torch.Tensor  # (B,) for evaluation and anomaly scores
    # scalars only some objectives or parts report (VQ perplexity and commitment, the iwae bound,
    # beta-TC's mi/tc/dwkl, VAE-GAN's gan_loss): logged as epoch means under these names
    extras: Mapping[str, torch.Tensor] = field(default_factory=dict)


def kl_terms(qz: Distribution, pz: Distribution, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """KL(q || p) per example (B,), and per dimension (B, D) when both factorise over dimensions.

    Uses the closed form when torch knows one (a full-covariance posterior against a diagonal
    Gaussian prior included), else the Monte Carlo estimate log q(z) - log p(z) at the given z
    (which may carry leading sample dims: then the estimate is (*S, B)).
    """
    if isinstance(qz, Independent) and isinstance(pz, Independent):
        try:
            per_dim = kl_divergence(qz.base_dist, pz.base_dist)  # (B, D)
            return per_dim.sum(-1), per_dim
        except NotImplementedError:
            pass
    if isinstance(qz, MultivariateNormal) and isinstance(pz, Independent) and isinstance(pz.base_dist, Normal):
        p = pz.base_dist
        pz_full = MultivariateNormal(p.loc, scale_tril=torch.diag_embed(p.scale), validate_args=False)
        return kl_divergence(qz, pz_full), None  # (B,)
    return qz.log_prob(z) - pz.log_prob(z), None


def observed_log_prob(px: Distribution, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """log p(x|z) per example, summed over the observed entries only when a mask is given."""
    if mask is None:
        return px.log_prob(x)
    assert isinstance(px, Independent)
    per_element = px.base_dist.log_prob(x) * mask  # (..., *data_shape)
    return per_element.flatten(-px.reinterpreted_batch_ndims).sum(-1)


def elbo_parts(
    vae: VAE,
    x: torch.Tensor,
    qz: Distribution,
    z: torch.Tensor,
    condition: ConditionLike = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The ELBO's terms at posterior draws z (*S, B, D) of qz = q(z|x): -log p(x|z) (*S, B), the KL
    ((B,) in closed form, else (*S, B) Monte Carlo) and the per-dimension KL (B, D) when it exists.
    ``mask`` (x's shape, True = observed) scores observed entries only."""
    recon = -observed_log_prob(vae.decode(z, condition), x, mask)  # (*S, B)
    kl, kl_dim = kl_terms(qz, vae.prior(), z)
    return recon, kl, kl_dim


def elbo(
    vae: VAE,
    x: torch.Tensor,
    kl_weight: float = 1.0,
    free_bits: float = 0.0,
    eps: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    condition: ConditionLike = None,
    capacity: float | None = None,
) -> ELBOTerms:
    """The (beta-weighted) ELBO with one reparameterised sample.

    ``free_bits`` floors each dimension's batch-mean KL at that many nats in the *loss* only
    (the reported ``kl`` and ``elbo`` stay exact). ``capacity`` C switches the KL part of the loss
    to ``kl_weight * |KL - C|`` (Burgess et al. 2018). ``eps`` (B, D) fixes the posterior noise.
    ``mask`` (same shape as x, True = observed) scores observed entries only; missing entries of
    ``x`` must already be filled (e.g. with 0). ``condition``: the labels of a conditional model. A
    posterior that carries an ``aux_loss`` (B,) (the VQ commitment) adds it.
    """
    qz = vae.encode(x, condition)
    z = qz.rsample() if eps is None else reparameterize(qz, eps)  # (B, D)
    recon, kl, kl_dim = elbo_parts(vae, x, qz, z, condition, mask)  # (B,), (B,), (B, D) | None
    recon_nll, kl_mean = recon.mean(), kl.mean()
    kl_dim_mean = kl_dim.mean(0) if kl_dim is not None else None  # (D,)
    if capacity is not None:
        kl_loss = (kl_mean - capacity).abs()
    elif free_bits > 0:
        if kl_dim_mean is not None:
            kl_loss = kl_dim_mean.clamp(min=free_bits).sum()
        else:
            kl_loss = kl_mean.clamp(min=free_bits * vae.latent_dim)
    else:
        kl_loss = kl_mean
    elbo_ex = -(recon + kl)
    loss = recon_nll + kl_weight * kl_loss
    extras = posterior_extras(qz)
    if "aux_loss" in extras:
        loss = loss + extras["aux_loss"]
    return ELBOTerms(
        loss=loss,
        recon_nll=recon_nll,
        kl=kl_mean,
        elbo=elbo_ex.mean(),
        kl_per_dim=kl_dim_mean,
        elbo_per_example=elbo_ex,
        extras=extras,
    )


def posterior_extras(qz: Distribution) -> dict[str, torch.Tensor]:
    """What a posterior reports of itself: the VQ commitment loss (batch mean) and code perplexity."""
    out: dict[str, torch.Tensor] = {}
    aux = getattr(qz, "aux_loss", None)
    if aux is not None:
        out["aux_loss"] = aux.mean()
    perplexity = getattr(qz, "code_perplexity", None)
    if perplexity is not None:
        out["perplexity"] = perplexity
    return out


def split_missing(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
    """NaN marks a missing entry: returns (x with NaN -> 0, observed mask) or (x, None)."""
    nan = torch.isnan(x)
    if not bool(nan.any()):
        return x, None
    return torch.where(nan, torch.zeros_like(x), x), ~nan


def iwae_log_weights(model: VAE, x: torch.Tensor, k: int, condition: ConditionLike = None) -> torch.Tensor:
    """log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x) for k draws z_i ~ q(z|x). (k, B)."""
    qz = model.encode(x, condition)
    z = qz.rsample((k,))  # (k, B, D)
    px = model.decode(z, condition)  # batch shape (k, B)
    return px.log_prob(x) + model.prior().log_prob(z) - qz.log_prob(z)


def log_mean_exp(log_w: torch.Tensor, dim: int = 0) -> torch.Tensor:
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


@dataclass(frozen=True)
class MeanELBO:
    """Per-example means of the ELBO terms over a whole dataset (nats)."""

    elbo: float
    recon_nll: float
    kl: float
    n: int


@torch.inference_mode()
def mean_elbo(model: VAE, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> MeanELBO:
    """The single-sample ELBO averaged over every row of ``x``, in batches (``condition``: the
    rows' labels, for a conditional model)."""
    sums = torch.zeros(2, dtype=torch.float64)
    for i in range(0, x.shape[0], batch_size):
        xb, mask = split_missing(x[i : i + batch_size])
        c = None if condition is None else condition[i : i + batch_size]
        qz = model.encode(xb, c)
        recon, kl, _ = elbo_parts(model, xb, qz, qz.rsample(), c, mask)
        sums += torch.stack([recon.sum(), kl.sum()]).double()
    n = int(x.shape[0])
    recon_, kl_ = (sums / max(n, 1)).tolist()
    return MeanELBO(elbo=-(recon_ + kl_), recon_nll=recon_, kl=kl_, n=n)
