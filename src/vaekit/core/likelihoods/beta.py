"""Beta p(x|z) for values strictly inside (0, 1): proportions, rates, [0, 1] intensities.

The decoder emits a mean logit and a log-precision per element: mu = sigmoid(a), kappa = exp(b),
Beta(mu * kappa, (1 - mu) * kappa). Data at exactly 0 or 1 have density 0 or infinity under most
Betas, so values are clamped to [eps, 1 - eps] before scoring (``eps``, default 1e-4: 0 and 1 are
scored as 1e-4 and 1 - 1e-4); draws are clamped the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Beta, Distribution, constraints
from torch.types import _size

from vaekit.config_checks import number
from vaekit.core.likelihoods import Likelihood
from vaekit.registry import LIKELIHOODS

LOG_PRECISION_RANGE = (-7.0, 12.0)  # kappa = alpha + beta in e^-7..e^12
MEAN_LOGIT_RANGE = (-15.0, 15.0)  # mu in sigmoid(-15)..sigmoid(15): both shapes stay positive in float32


@dataclass(frozen=True)
class BetaOptions:
    eps: float = 1e-4  # data and draws are clamped to [eps, 1 - eps]

    def __post_init__(self) -> None:
        number("model.likelihood.eps", self.eps, 0.0, 0.5, low_open=True, high_open=True)


class ClampedBeta(Beta):
    """torch's Beta, scoring and drawing values clamped to [eps, 1 - eps]."""

    def __init__(self, concentration1: torch.Tensor, concentration0: torch.Tensor, eps: float):
        super().__init__(concentration1, concentration0, validate_args=False)
        self.eps = eps

    def expand(self, batch_shape: _size, _instance: Distribution | None = None) -> ClampedBeta:
        return ClampedBeta(self.concentration1.expand(batch_shape), self.concentration0.expand(batch_shape), self.eps)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return super().log_prob(value.clamp(self.eps, 1 - self.eps))

    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        return super().rsample(sample_shape).clamp(self.eps, 1 - self.eps)


@LIKELIHOODS.register("beta", BetaOptions)
class BetaLikelihood(Likelihood):
    """Values in (0, 1) (proportions, rates); mean and precision per element, edges clamped by eps."""

    params_per_element = 2
    data_support = constraints.unit_interval

    def __init__(self, data_shape: tuple[int, ...], options: BetaOptions = BetaOptions()):
        super().__init__(data_shape)
        self.eps = options.eps

    def forward(self, h: torch.Tensor) -> Distribution:
        mean_logit, log_precision = self._split(h)
        kappa = log_precision.clamp(*LOG_PRECISION_RANGE).exp()
        a = mean_logit.clamp(*MEAN_LOGIT_RANGE)
        # mu and 1 - mu each from its own sigmoid: 1 - sigmoid(a) would round to 0 for a large a
        return self._wrap(ClampedBeta(kappa * torch.sigmoid(a), kappa * torch.sigmoid(-a), self.eps))
