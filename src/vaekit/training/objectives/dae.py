"""The denoising-autoencoder objective (Mult-DAE, Liang et al. 2018): a deterministic encoder.

The code is the posterior's location (the noise is zero), the loss is the reconstruction NLL there
and there is no KL term; the "denoising" is the encoder's input dropout (``model.input_dropout``).
It is an objective, not a model: any VAE built by vaekit trains as a DAE with ``train.objective='dae'``.
"""

from __future__ import annotations

import torch

from vaekit.config import TrainConfig
from vaekit.core.elbo import ELBOTerms, observed_log_prob
from vaekit.core.posteriors import reparameterize
from vaekit.core.vae import VAE, ConditionLike
from vaekit.registry import OBJECTIVES, NoOptions
from vaekit.training.objectives import ObjectiveContext, TrainObjective, loss_function


def dae(vae: VAE, x: torch.Tensor, mask: torch.Tensor | None = None, condition: ConditionLike = None) -> ELBOTerms:
    """-log p(x | z = location of q(z|x)), batch mean. ``kl`` is 0 and ``elbo`` is -recon_nll (a DAE has
    no bound; the names keep the metrics files uniform)."""
    qz = vae.encode(x, condition)
    z = reparameterize(qz, torch.zeros(x.shape[0], vae.latent_dim, device=x.device))  # (B, D): the location
    recon = -observed_log_prob(vae.decode(z, condition), x, mask)  # (B,)
    recon_nll = recon.mean()
    return ELBOTerms(
        loss=recon_nll,
        recon_nll=recon_nll,
        kl=torch.zeros((), device=x.device),
        elbo=-recon_nll,
        kl_per_dim=None,
        elbo_per_example=-recon,
    )


@OBJECTIVES.register("dae", NoOptions)
class DAEObjective(TrainObjective):
    """Mult-DAE: the reconstruction NLL at the posterior's location, no KL."""

    def __init__(self, t: TrainConfig, options: NoOptions, ctx: ObjectiveContext):
        super().__init__(t, options, ctx)
        self._dae = loss_function(dae, t)

    def __call__(
        self,
        vae: VAE,
        x: torch.Tensor,
        *,
        eps: torch.Tensor | None,
        mask: torch.Tensor | None,
        condition: torch.Tensor | None,
        step: float,
    ) -> ELBOTerms:
        return self._dae(vae, x, mask=mask, condition=condition)
