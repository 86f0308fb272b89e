"""The importance-weighted bound (Burda et al. 2015) as a training objective, with the doubly
reparameterized gradient estimator (DReG, Tucker et al. 2018) as an option.

    L_k = E[ log (1/k) sum_i w_i ],   log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x),  z_i ~ q(z|x)

The plain estimator differentiates L_k. DReG keeps that gradient for the decoder and the prior,
and replaces the encoder's by sum_i wn_i^2 d(log w_i)/dz_i dz_i/dphi (wn = normalised weights),
which has the same expectation and lower variance. In practice: log q is evaluated with its
parameters frozen (only the path through z remains), the surrogate sum_i wn_i log w_i gives the
decoder its gradient, and a hook on z multiplies the gradient reaching the encoder by wn_i once more.
"""

from __future__ import annotations

import torch

from vaekit.core.elbo import ELBOTerms, log_mean_exp, observed_log_prob, posterior_extras
from vaekit.core.posteriors import reparameterize, stop_gradient
from vaekit.core.vae import VAE, ConditionLike


def iwae(
    vae: VAE,
    x: torch.Tensor,
    k: int,
    *,
    estimator: str = "iwae",
    kl_weight: float = 1.0,
    eps: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    condition: ConditionLike = None,
) -> ELBOTerms:
    """The k-sample bound (``terms.iwae``) and its loss; ``estimator`` "iwae" or "dreg".

    ``eps`` (k, B, D) fixes the posterior noise. ``kl_weight`` scales log p(z) - log q(z|x) inside
    each weight (warm-up; 1 is the bound itself). ``elbo`` reports the single-sample ELBO averaged
    over the k draws, ``recon_nll`` and ``kl`` likewise; ``extras["iwae"]`` is the bound.
    """
    if eps is None:
        eps = torch.randn((k, x.shape[0], vae.latent_dim), device=x.device)
    qz = vae.encode(x, condition)
    z = reparameterize(qz, eps)  # (k, B, D)
    px = vae.decode(z, condition)  # batch shape (k, B)
    log_px = observed_log_prob(px, x, mask)  # (k, B)
    log_pz = vae.prior().log_prob(z)  # (k, B)
    log_qz = (stop_gradient(qz) if estimator == "dreg" else qz).log_prob(z)  # (k, B)
    log_ratio = log_pz - log_qz  # (k, B)
    log_w = log_px + (log_ratio if kl_weight == 1.0 else kl_weight * log_ratio)  # (k, B)
    bound = log_mean_exp(log_w, 0)  # (B,)
    if estimator == "dreg":
        wn = torch.softmax(log_w.detach(), 0)  # (k, B)
        if z.requires_grad:
            z.register_hook(lambda g: g * wn.unsqueeze(-1))  # encoder path: wn^2 in total
        loss = -(wn * log_w).sum(0).mean()
    elif estimator == "iwae":
        loss = -bound.mean()
    else:
        from vaekit.errors import ConfigError

        raise ConfigError(f"unknown IWAE gradient estimator {estimator!r}: use 'iwae' or 'dreg'")
    elbo_ex = (log_px + log_ratio).mean(0)  # (B,) single-sample ELBO, averaged over the k draws
    extras = posterior_extras(qz)
    if "aux_loss" in extras:
        loss = loss + extras["aux_loss"]
    return ELBOTerms(
        loss=loss,
        recon_nll=-log_px.mean(),
        kl=-log_ratio.mean(),
        elbo=elbo_ex.mean(),
        kl_per_dim=None,
        elbo_per_example=elbo_ex,
        extras={**extras, "iwae": bound.detach().mean()},
    )
