"""``train.objective`` -> the loss the trainer minimises, as one callable object per objective.

The objective object holds what the loss needs from training but the model must never see (the
dataset size for beta-TC, the step for warm-up and capacity, a discriminator and its optimizer);
``forward`` stays ``model(x, eps, condition)``. Every objective returns ``ELBOTerms``.
"""

from __future__ import annotations

import torch
from torch import nn

from vaekit.config import TrainConfig
from vaekit.core.iwae import iwae
from vaekit.core.objectives import ELBOTerms, elbo
from vaekit.core.tc import btcvae
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError
from vaekit.training import schedules

# optional ELBOTerms fields that, when an objective fills them, become epoch means in metrics.jsonl
EXTRA_TERMS = ("aux_loss", "perplexity", "iwae", "mi", "tc", "dwkl", "gan_loss")


def loss_function(fn, t: TrainConfig):
    """``fn`` as is, or through ``torch.compile`` when ``train.compile`` is set: the model's forward
    and the loss terms become one graph with fused elementwise kernels. Only tensors and floats vary
    from step to step (never the step count), so a run compiles once per batch shape."""
    return torch.compile(fn) if t.compile else fn


class TrainObjective:
    """Base: the single-sample (beta-weighted) ELBO with KL warm-up and free bits."""

    samples: int | None = None  # k posterior draws per example (eps (k, B, D)); None: one (eps (B, D))

    def __init__(self, t: TrainConfig, steps_per_epoch: int):
        self.t, self.steps_per_epoch = t, steps_per_epoch
        self.modules: dict[str, nn.Module] = {}  # extra trained modules, saved in the training state
        self.optimizers: dict[str, torch.optim.Optimizer] = {}  # their optimizers, saved likewise
        self._elbo = loss_function(elbo, t)

    def kl_weight(self, step: int) -> float:
        return schedules.kl_weight(step, self.steps_per_epoch, self.t.beta, self.t.kl_warmup_epochs)

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        *,
        eps: torch.Tensor | None,
        loss_scale: float,
        mask: torch.Tensor | None,
        condition: torch.Tensor | None,
        step: int,
    ) -> ELBOTerms:
        t = self.t
        return self._elbo(
            model, x, kl_weight=self.kl_weight(step), free_bits=t.free_bits, eps=eps, loss_scale=loss_scale, mask=mask,
            condition=condition,
        )  # fmt: skip

    def after_step(self, model: nn.Module) -> torch.Tensor | None:
        """Anything trained after the model's update (a discriminator); returns its loss or None."""
        return None


class CapacityObjective(TrainObjective):
    """loss = recon + beta * |KL - C(step)|, C growing linearly to capacity_max (Burgess et al. 2018)."""

    def capacity(self, step: int) -> float:
        return schedules.capacity(step, self.t.capacity_max, self.t.capacity_steps)

    def __call__(self, model, x, *, eps, loss_scale, mask, condition, step) -> ELBOTerms:  # type: ignore[override]
        return self._elbo(
            model, x, kl_weight=self.kl_weight(step), eps=eps, loss_scale=loss_scale, mask=mask, condition=condition,
            capacity=self.capacity(step),
        )  # fmt: skip


class IWAEObjective(TrainObjective):
    """The k-sample importance-weighted bound; ``train.iwae_estimator`` picks the gradient estimator."""

    def __init__(self, t: TrainConfig, steps_per_epoch: int):
        super().__init__(t, steps_per_epoch)
        self.samples = t.k
        self._iwae = loss_function(iwae, t)

    def __call__(self, model, x, *, eps, loss_scale, mask, condition, step) -> ELBOTerms:  # type: ignore[override]
        # warm-up scales log p(z) - log q(z|x) in each weight; beta itself stays 1 for a true bound
        warm = schedules.kl_weight(step, self.steps_per_epoch, 1.0, self.t.kl_warmup_epochs)
        return self._iwae(
            model, x, self.t.k, estimator=self.t.iwae_estimator, kl_weight=warm, eps=eps, loss_scale=loss_scale,
            mask=mask, condition=condition,
        )  # fmt: skip


class BetaTCObjective(TrainObjective):
    """recon + w * (MI + beta * TC + DWKL), TC by minibatch-weighted sampling over ``dataset_size``."""

    def __init__(self, t: TrainConfig, steps_per_epoch: int, dataset_size: int):
        super().__init__(t, steps_per_epoch)
        self.dataset_size = dataset_size
        self._btcvae = loss_function(btcvae, t)

    def __call__(self, model, x, *, eps, loss_scale, mask, condition, step) -> ELBOTerms:  # type: ignore[override]
        warm = schedules.kl_weight(step, self.steps_per_epoch, 1.0, self.t.kl_warmup_epochs)
        return self._btcvae(
            model, x, self.dataset_size, beta=self.t.beta, kl_weight=warm, eps=eps, loss_scale=loss_scale, mask=mask,
            condition=condition,
        )  # fmt: skip


class DAEObjective(TrainObjective):
    """Mult-DAE: the reconstruction NLL at the posterior's location, no KL (``core/dae.py``)."""

    def __init__(self, t: TrainConfig, steps_per_epoch: int):
        super().__init__(t, steps_per_epoch)
        from vaekit.core.dae import dae

        self._dae = loss_function(dae, t)

    def __call__(self, model, x, *, eps, loss_scale, mask, condition, step) -> ELBOTerms:  # type: ignore[override]
        return self._dae(model, x, eps=eps, loss_scale=loss_scale, mask=mask, condition=condition)


def make_objective(t: TrainConfig, model: VAE, *, steps_per_epoch: int, dataset_size: int, world_size: int = 1) -> TrainObjective:
    """The objective object for ``train.objective`` (checked here: errors name the setting)."""
    if t.objective in ("btcvae", "vaegan") and world_size > 1:
        raise ConfigError(
            f"train.objective={t.objective!r} runs in one process: "
            + (
                "its total-correlation estimate needs the whole batch"
                if t.objective == "btcvae"
                else "its discriminator is not sharded"
            )
            + "; drop --devices / torchrun"
        )
    if t.capacity_max < 0 or t.capacity_steps < 1:
        raise ConfigError("train.capacity_max must be >= 0 and train.capacity_steps >= 1")
    if t.capacity_max > 0 and t.objective != "elbo":
        raise ConfigError(f"train.capacity_max works with train.objective='elbo', not {t.objective!r}")
    if t.objective == "elbo":
        return CapacityObjective(t, steps_per_epoch) if t.capacity_max > 0 else TrainObjective(t, steps_per_epoch)
    if t.objective == "iwae":
        if t.k < 1:
            raise ConfigError(f"train.k (importance samples) must be at least 1, got {t.k}")
        return IWAEObjective(t, steps_per_epoch)
    if t.objective == "dae":
        return DAEObjective(t, steps_per_epoch)
    if t.objective == "btcvae":
        return BetaTCObjective(t, steps_per_epoch, dataset_size)
    if t.objective == "vaegan":
        if t.compile:
            raise ConfigError("train.compile works with the elbo, iwae and btcvae objectives; set train.compile=false for vaegan")
        from vaekit.training.adversarial import VAEGANObjective

        return VAEGANObjective(t, steps_per_epoch, model)
    raise ConfigError(f"unknown train.objective {t.objective!r}: use elbo, iwae, btcvae, vaegan or dae")
