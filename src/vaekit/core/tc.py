"""beta-TC-VAE (Chen et al. 2018): the KL term split into index-code mutual information, total
correlation and dimension-wise KL, with only the total correlation weighted by beta:

    KL = E[log q(z|x) - log q(z)] + E[log q(z) - sum_d log q(z_d)] + E[sum_d log q(z_d) - log p(z)]
             MI                          TC                               DWKL

q(z) and its marginals are estimated on the minibatch by minibatch-weighted sampling:
log q(z_i) ~ logsumexp_j log q(z_i|x_j) - log(N M), with N the dataset size and M the batch size.
The three estimates sum exactly to the single-sample KL estimate log q(z|x) - log p(z); each one
alone carries a constant offset from the log(N M) terms (so TC is not zero at independence), which
does not change its gradient.
"""

from __future__ import annotations

import math

import torch
from torch.distributions import Independent, Normal

from vaekit.core.elbo import ELBOTerms, kl_terms, observed_log_prob
from vaekit.core.posteriors import reparameterize
from vaekit.core.vae import VAE, ConditionLike
from vaekit.errors import ModelError


def log_density_matrix(z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """log q(z_i,d | x_j) for every pair (i, j) and dimension d: (M, M, D)."""
    e = (z[:, None, :] - loc[None, :, :]) / scale[None, :, :]  # (M, M, D)
    return -0.5 * e * e - scale.log()[None, :, :] - 0.5 * math.log(2 * math.pi)


def mws_log_densities(
    z: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, dataset_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch-weighted estimates of log q(z_i) and sum_d log q(z_i,d): (M,), (M,)."""
    mat = log_density_matrix(z, loc, scale)  # (M, M, D)
    log_nm = math.log(dataset_size * z.shape[0])
    log_qz = torch.logsumexp(mat.sum(2), dim=1) - log_nm  # (M,)
    log_prod = (torch.logsumexp(mat, dim=1) - log_nm).sum(1)  # (M,)
    return log_qz, log_prod


def btcvae(
    vae: VAE,
    x: torch.Tensor,
    dataset_size: int,
    *,
    beta: float,
    kl_weight: float = 1.0,
    eps: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    condition: ConditionLike = None,
) -> ELBOTerms:
    """loss = recon + kl_weight * (MI + beta * TC + DWKL). ``dataset_size`` is N of the MWS estimate;
    ``kl_weight`` is the warm-up factor (0 -> 1). Needs a diagonal Gaussian posterior."""
    qz = vae.encode(x, condition)
    z = qz.rsample() if eps is None else reparameterize(qz, eps)  # (M, D)
    px = vae.decode(z, condition)
    if not (isinstance(qz, Independent) and isinstance(qz.base_dist, Normal)):
        raise ModelError("train.objective='btcvae' needs model.posterior='diagonal' (per-dimension marginals)")
    pz = vae.prior()
    recon = -observed_log_prob(px, x, mask)  # (M,)
    loc, scale = qz.base_dist.loc, qz.base_dist.scale  # (M, D) each
    log_qz_x = qz.log_prob(z)  # (M,)
    log_qz, log_prod = mws_log_densities(z, loc, scale, dataset_size)  # (M,), (M,)
    log_pz = pz.log_prob(z)  # (M,)
    mi, tc, dwkl = (log_qz_x - log_qz).mean(), (log_qz - log_prod).mean(), (log_prod - log_pz).mean()
    kl, kl_dim = kl_terms(qz, pz, z)  # exact where closed form
    elbo_ex = -(recon + kl)  # (M,)
    loss = recon.mean() + kl_weight * (mi + beta * tc + dwkl)
    return ELBOTerms(
        loss=loss,
        recon_nll=recon.mean(),
        kl=kl.mean(),
        elbo=elbo_ex.mean(),
        kl_per_dim=kl_dim.mean(0) if kl_dim is not None else None,
        elbo_per_example=elbo_ex,
        extras={"mi": mi.detach(), "tc": tc.detach(), "dwkl": dwkl.detach()},
    )
