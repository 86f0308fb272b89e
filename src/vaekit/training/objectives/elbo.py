"""The single-sample (beta-weighted) ELBO with KL warm-up, free bits, and an optional capacity target."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.config import TrainConfig
from vaekit.config_checks import integer, number
from vaekit.core.elbo import ELBOTerms, elbo
from vaekit.core.vae import VAE
from vaekit.registry import OBJECTIVES
from vaekit.training import schedules
from vaekit.training.objectives import ObjectiveContext, TrainObjective, loss_function


@dataclass(frozen=True)
class ELBOOptions:
    capacity_max: float = 0.0  # > 0: loss = recon + beta * |KL - C|, C linear 0 -> capacity_max (nats)
    capacity_steps: int = 10000  # optimizer steps over which the capacity C grows

    def __post_init__(self) -> None:
        number("train.objective.capacity_max", self.capacity_max, 0.0)
        integer("train.objective.capacity_steps", self.capacity_steps, 1)


@OBJECTIVES.register("elbo", ELBOOptions)
class ELBOObjective(TrainObjective):
    """The ELBO (beta-VAE with train.beta); with capacity_max, Burgess et al.'s |KL - C| target."""

    def __init__(self, t: TrainConfig, options: ELBOOptions, ctx: ObjectiveContext):
        super().__init__(t, options, ctx)
        self._elbo = loss_function(elbo, t)

    def capacity(self, step: float) -> float | None:
        o = self.options
        return schedules.capacity(step, o.capacity_max, o.capacity_steps) if o.capacity_max > 0 else None

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
        capacity = self.capacity(step)
        return self._elbo(
            vae, x, kl_weight=self.kl_weight(step), free_bits=0.0 if capacity is not None else self.t.free_bits, eps=eps,
            mask=mask, condition=condition, capacity=capacity,
        )  # fmt: skip

    def logged(self, step: float) -> dict[str, float]:
        capacity = self.capacity(step)
        return {} if capacity is None else {"capacity": capacity}
