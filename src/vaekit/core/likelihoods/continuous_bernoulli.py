"""Continuous Bernoulli (Loaiza-Ganem & Cunningham 2019): the correctly normalised likelihood for
pixels in [0, 1], where the Bernoulli "likelihood" of grey values is not a density.

    p(x | eta) = C(eta) * exp(eta * x - softplus(eta)),   C(eta) = eta / tanh(eta / 2)   (C(0) = 2)

with eta the decoder's logit. torch's ``ContinuousBernoulli`` computes C, the mean and the inverse
CDF from the clamped probability sigmoid(eta), which in float32 goes wrong by tenths of a nat and more
once |eta| exceeds a few units (BENCHMARKS.md, "Continuous Bernoulli in float32"). Here they are
computed from eta itself: a Taylor series for |eta| < 0.5 and the closed forms above it, each of
which is free of cancellation there.
"""

from __future__ import annotations

import torch
from torch.distributions import ContinuousBernoulli, Distribution, constraints
from torch.types import _size

from vaekit.core.likelihoods import Likelihood
from vaekit.registry import LIKELIHOODS, NoOptions

SERIES_BELOW = 0.5  # |eta| under which the Taylor series (truncation error < 1e-10) replaces the closed form


def _split(eta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Where the series applies, and eta made safe (away from 0) for the closed-form branch, so the
    branch torch.where discards never divides by zero (which would poison the gradient with NaN)."""
    near = eta.abs() < SERIES_BELOW
    safe = torch.where(near, torch.ones_like(eta), eta)
    return near, safe, eta * eta


def log_normalizer(eta: torch.Tensor) -> torch.Tensor:
    """log C(eta) = log(eta / tanh(eta / 2)), an even function with log C(0) = log 2."""
    near, safe, e2 = _split(eta)
    series = 0.6931471805599453 + e2 * (
        1 / 12 + e2 * (-7 / 1440 + e2 * (31 / 90720 + e2 * (-127 / 4838400 + e2 * 73 / 34214400)))
    )
    a = safe.abs()
    closed = torch.log(a) - torch.log(torch.tanh(a / 2))
    return torch.where(near, series, closed)


def cb_mean(eta: torch.Tensor) -> torch.Tensor:
    """E[x] = 1 / (1 - e^-eta) - 1 / eta (1/2 at eta = 0)."""
    near, safe, e2 = _split(eta)
    series = 0.5 + eta * (1 / 12 + e2 * (-1 / 720 + e2 * (1 / 30240 - e2 / 1209600)))
    closed = -1 / torch.expm1(-safe) - 1 / safe
    return torch.where(near, series, closed)


def cb_variance(eta: torch.Tensor) -> torch.Tensor:
    """Var[x] = 1 / eta^2 - 1 / (4 sinh^2(eta / 2)) (1/12 at eta = 0)."""
    near, safe, e2 = _split(eta)
    series = 1 / 12 + e2 * (-1 / 240 + e2 * (1 / 6048 + e2 * (-1 / 172800 + e2 / 5322240)))
    closed = 1 / (safe * safe) - 1 / (4 * torch.sinh(safe / 2) ** 2)
    return torch.where(near, series, closed)


class StableContinuousBernoulli(ContinuousBernoulli):
    """torch's ContinuousBernoulli with the normaliser, mean, variance, CDF and inverse CDF computed
    from the logits (see the module docstring); log_prob and rsample follow from them."""

    def _cont_bern_log_norm(self) -> torch.Tensor:
        return log_normalizer(self.logits)

    @property
    def mean(self) -> torch.Tensor:
        return cb_mean(self.logits)

    @property
    def variance(self) -> torch.Tensor:
        return cb_variance(self.logits)

    @property
    def mode(self) -> torch.Tensor:
        # the density is exponential in x: its largest value sits at 1 (eta > 0) or 0 (eta < 0)
        eta = self.logits
        return torch.where(eta > 0, 1.0, torch.where(eta < 0, 0.0, 0.5)).to(eta.dtype)

    def cdf(self, value: torch.Tensor) -> torch.Tensor:
        eta, x = torch.broadcast_tensors(self.logits, value)
        tiny = eta.abs() < 1e-6  # first order in eta there: exact to ~1e-12
        safe = torch.where(tiny, torch.ones_like(eta), eta)
        # F(x) = expm1(eta x) / expm1(eta); for eta > 0 through 1 - F_{-eta}(1 - x), which cannot overflow
        neg = torch.expm1(-safe.abs() * torch.where(safe < 0, x, 1 - x)) / torch.expm1(-safe.abs())
        f = torch.where(safe < 0, neg, 1 - neg)
        return torch.where(tiny, x - eta * x * (1 - x) / 2, f).clamp(0, 1)

    def icdf(self, value: torch.Tensor) -> torch.Tensor:
        eta, u = torch.broadcast_tensors(self.logits, value)
        tiny = eta.abs() < 1e-6
        safe = torch.where(tiny, torch.ones_like(eta), eta)
        # x = log1p(u expm1(eta)) / eta; for eta > 0 the same law mirrored: 1 + log1p((1 - u) expm1(-eta)) / eta
        below = torch.log1p(u * torch.expm1(safe)) / safe
        above = 1 + torch.log1p((1 - u) * torch.expm1(-safe)) / safe
        x = torch.where(safe < 0, below, above)
        return torch.where(tiny, u + eta * u * (1 - u) / 2, x).clamp(0, 1)

    def expand(self, batch_shape: _size, _instance: Distribution | None = None) -> StableContinuousBernoulli:
        return StableContinuousBernoulli(logits=self.logits.expand(batch_shape), validate_args=False)


@LIKELIHOODS.register("continuous-bernoulli", NoOptions)
class ContinuousBernoulliLikelihood(Likelihood):
    """[0, 1] intensities with a proper density (Bernoulli's pixel loss, normalised); one logit per element."""

    data_support = constraints.unit_interval

    def __init__(self, data_shape: tuple[int, ...], options: NoOptions = NoOptions()):
        super().__init__(data_shape)

    def forward(self, h: torch.Tensor) -> Distribution:
        (logits,) = self._split(h)
        return self._wrap(StableContinuousBernoulli(logits=logits, validate_args=False))
