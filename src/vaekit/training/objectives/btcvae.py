"""beta-TC-VAE (Chen et al. 2018): only the total correlation of the KL is weighted by beta."""

from __future__ import annotations

import torch

from vaekit.config import TrainConfig
from vaekit.core.elbo import ELBOTerms
from vaekit.core.tc import btcvae
from vaekit.core.vae import VAE
from vaekit.registry import OBJECTIVES, NoOptions
from vaekit.training.objectives import ObjectiveContext, TrainObjective, loss_function


@OBJECTIVES.register("btcvae", NoOptions)
class BetaTCObjective(TrainObjective):
    """recon + w * (MI + beta * TC + DWKL), TC by minibatch-weighted sampling over the dataset size."""

    shardable = False
    why_unshardable = "its total-correlation estimate needs the whole batch"

    def __init__(self, t: TrainConfig, options: NoOptions, ctx: ObjectiveContext):
        super().__init__(t, options, ctx)
        self.dataset_size = ctx.dataset_size
        self._btcvae = loss_function(btcvae, t)

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
        return self._btcvae(
            vae, x, self.dataset_size, beta=self.t.beta, kl_weight=self.kl_weight(step, 1.0), eps=eps, mask=mask,
            condition=condition,
        )  # fmt: skip
