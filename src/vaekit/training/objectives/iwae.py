"""The k-sample importance-weighted bound (Burda et al. 2015) as the training objective."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from vaekit.config import TrainConfig
from vaekit.config_checks import integer
from vaekit.core.elbo import ELBOTerms
from vaekit.core.iwae import iwae
from vaekit.core.vae import VAE
from vaekit.registry import OBJECTIVES
from vaekit.training.objectives import ObjectiveContext, TrainObjective, loss_function


@dataclass(frozen=True)
class IWAEOptions:
    k: int = 5  # importance samples per example
    estimator: Literal["iwae", "dreg"] = "iwae"  # dreg: doubly reparameterized encoder gradients

    def __post_init__(self) -> None:
        integer("train.objective.k", self.k, 1)


@OBJECTIVES.register("iwae", IWAEOptions)
class IWAEObjective(TrainObjective):
    """The k-sample bound; ``estimator`` picks the gradient estimator."""

    def __init__(self, t: TrainConfig, options: IWAEOptions, ctx: ObjectiveContext):
        super().__init__(t, options, ctx)
        self.samples = options.k
        self._iwae = loss_function(iwae, t)

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
        # warm-up scales log p(z) - log q(z|x) in each weight; beta itself stays 1 for a true bound
        return self._iwae(
            vae, x, self.options.k, estimator=self.options.estimator, kl_weight=self.kl_weight(step, 1.0), eps=eps,
            mask=mask, condition=condition,
        )  # fmt: skip
