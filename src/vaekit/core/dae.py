"""The denoising-autoencoder objective (Mult-DAE, Liang et al. 2018): a deterministic encoder.

The code is the posterior's location (the noise is zero), the loss is the reconstruction NLL there
and there is no KL term; the "denoising" is the encoder's input dropout (``model.input_dropout``).
It is an objective, not a model: any VAE built by vaekit trains as a DAE with ``train.objective='dae'``.
"""

from __future__ import annotations

import torch

from vaekit.core.objectives import ELBOTerms, observed_log_prob
from vaekit.core.vae import VAE, ConditionLike


def dae(
    model: VAE | torch.nn.Module,
    x: torch.Tensor,
    eps: torch.Tensor | None = None,
    loss_scale: float = 1.0,
    mask: torch.Tensor | None = None,
    condition: ConditionLike = None,
) -> ELBOTerms:
    """-log p(x | z = location of q(z|x)), batch mean. ``model`` may be DDP-wrapped; the forward goes
    through it with zero noise so the gradients are reduced. ``kl`` is 0 and ``elbo`` is -recon_nll
    (a DAE has no bound; the names keep the metrics files uniform)."""
    vae: VAE = getattr(model, "module", model)
    zeros = torch.zeros(x.shape[0], vae.latent_dim, device=x.device) if eps is None else torch.zeros_like(eps)  # (B, D)
    _, _, px = model(x, zeros) if condition is None else model(x, zeros, condition)
    recon = -observed_log_prob(px, x, mask)  # (B,)
    recon_nll = recon.mean()
    return ELBOTerms(
        loss=recon_nll * loss_scale,
        recon_nll=recon_nll,
        kl=torch.zeros((), device=x.device),
        elbo=-recon_nll,
        kl_per_dim=None,
        elbo_per_example=-recon,
    )
