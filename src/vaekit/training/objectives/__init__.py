"""Training objectives: ``train.objective`` -> the loss the trainer minimises, one registered file each.

An objective object holds what the loss needs from training but the model must never see (the
dataset size for beta-TC, the step for warm-up and capacity, a discriminator and its optimizer);
it is called with the unwrapped VAE (the trainer wraps the whole loss computation for DDP) and
returns ``ELBOTerms`` with its own numbers in ``extras``. A new objective is a new file here with
``@OBJECTIVES.register(name, Options)`` on a :class:`TrainObjective` subclass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from vaekit.config import TrainConfig
from vaekit.core.elbo import ELBOTerms
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError
from vaekit.registry import OBJECTIVES
from vaekit.training import schedules


@dataclass(frozen=True)
class ObjectiveContext:
    """What an objective may know of the run: the model it trains and the shape of an epoch."""

    model: VAE
    steps_per_epoch: int
    dataset_size: int
    world_size: int = 1


@runtime_checkable
class ObjectivePart(Protocol):
    samples: int | None
    modules: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]

    def __call__(
        self,
        vae: VAE,
        x: torch.Tensor,
        *,
        eps: torch.Tensor | None,
        mask: torch.Tensor | None,
        condition: torch.Tensor | None,
        step: float,
    ) -> ELBOTerms: ...

    def after_step(self, vae: VAE) -> torch.Tensor | None: ...


def loss_function(fn: Callable[..., ELBOTerms], t: TrainConfig) -> Callable[..., ELBOTerms]:
    """``fn`` as is, or through ``torch.compile`` when ``train.compile`` is set: the model's forward
    and the loss terms become one graph with fused elementwise kernels. Only tensors and floats vary
    from step to step (never the step count), so a run compiles once per batch shape."""
    return torch.compile(fn) if t.compile else fn


class TrainObjective:
    """Base of the registered objectives: KL warm-up and the extra trained modules."""

    samples: int | None = None  # k posterior draws per example (eps (k, B, D)); None: one (eps (B, D))
    shardable: bool = True  # False: runs in one process only (needs the whole batch, or an unsharded module)
    why_unshardable: str = ""

    def __init__(self, t: TrainConfig, options: Any, ctx: ObjectiveContext):
        self.t, self.options, self.steps_per_epoch = t, options, ctx.steps_per_epoch
        self.modules: dict[str, nn.Module] = {}  # extra trained modules, saved in the training state
        self.optimizers: dict[str, torch.optim.Optimizer] = {}  # their optimizers, saved likewise

    def kl_weight(self, step: float, beta: float | None = None) -> float:
        t = self.t
        return schedules.kl_weight(step, self.steps_per_epoch, t.beta if beta is None else beta, t.kl_warmup_epochs)

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
        raise NotImplementedError

    def after_step(self, vae: VAE) -> torch.Tensor | None:
        """Anything trained after the model's update (a discriminator); returns its loss or None."""
        return None

    def logged(self, step: float) -> dict[str, float]:
        """Schedule values to log with each epoch (e.g. the capacity)."""
        return {}


def make_objective(t: TrainConfig, model: VAE, *, steps_per_epoch: int, dataset_size: int, world_size: int = 1) -> TrainObjective:
    """The objective object for ``train.objective`` (checked here: errors name the setting)."""
    entry = OBJECTIVES.get(t.objective.kind)
    if world_size > 1 and not entry.factory.shardable:
        raise ConfigError(
            f"train.objective={t.objective.kind!r} runs in one process: {entry.factory.why_unshardable}; drop --devices / torchrun"
        )
    return entry.factory(t, t.objective.options, ObjectiveContext(model, steps_per_epoch, dataset_size, world_size))


__all__ = ["ObjectiveContext", "ObjectivePart", "TrainObjective", "loss_function", "make_objective"]
