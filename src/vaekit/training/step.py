"""One optimisation step, in the shape of vdvae's ``training_step``: loss, backward, clip, skip a
non-finite update (counted by the caller), step the model and anything trained beside it.

The model and its objective are one module (:class:`LossModule`) so that DistributedDataParallel
wraps the whole loss computation: the core never sees the wrapper, and each shard's loss is scaled
here, by its share of the global batch, so N processes compute what one computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from vaekit.config import TrainConfig
from vaekit.core.elbo import ELBOTerms
from vaekit.core.vae import VAE
from vaekit.training import ddp
from vaekit.training.objectives import TrainObjective


class LossModule(nn.Module):
    """The VAE with its objective: ``forward`` returns the objective's terms for one batch."""

    def __init__(self, vae: VAE, objective: TrainObjective):
        super().__init__()
        self.vae = vae
        self.objective = objective  # not a module: its own trained parts live in objective.modules

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor, mask: torch.Tensor | None, condition: torch.Tensor | None, step: float
    ) -> ELBOTerms:
        return self.objective(self.vae, x, eps=eps, mask=mask, condition=condition, step=step)


@dataclass(frozen=True)
class StepResult:
    terms: ELBOTerms
    finite: bool  # False: the update was skipped (NaN/Inf loss or gradient on some rank)
    after: torch.Tensor | None  # the loss of what trained after the model (a discriminator), if any


def training_step(
    loss_module: nn.Module,
    vae: VAE,
    objective: TrainObjective,
    optimizer: torch.optim.Optimizer,
    batch: tuple[torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None],
    *,
    share: float,
    step: float,
    t: TrainConfig,
    env: ddp.DistEnv,
) -> StepResult:
    """``batch`` = (x, labels, eps, mask) of this rank; ``share`` its fraction of the global batch."""
    x, y, eps, mask = batch
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=t.precision == "bf16"):  # train.precision
        terms = loss_module(x, eps, mask, y, step)
    loss = terms.loss * share if share != 1.0 else terms.loss
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    finite = torch.isfinite(loss)
    if t.grad_clip is not None:
        finite = finite & torch.isfinite(torch.nn.utils.clip_grad_norm_(vae.parameters(), t.grad_clip))
    if not ddp.all_true(finite, env):  # the one sync per step; a no-op wait on CPU
        return StepResult(terms, False, None)
    optimizer.step()
    return StepResult(terms, True, objective.after_step(vae))  # e.g. the discriminator's update (VAE-GAN)
