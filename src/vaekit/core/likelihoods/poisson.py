"""Poisson counts: the decoder emits a log-rate per element."""

from __future__ import annotations

import torch
from torch.distributions import Distribution, Poisson, constraints
from torch.types import _size

from vaekit.core.likelihoods import Likelihood
from vaekit.registry import LIKELIHOODS, NoOptions

LOG_RATE_RANGE = (-20.0, 20.0)  # rates e^-20..e^20: keeps exp() and the gradient finite in float32


class LogRatePoisson(Poisson):
    """torch's Poisson, scored from the log-rate (x * log_rate - rate - log x!) so a tiny rate loses nothing."""

    def __init__(self, log_rate: torch.Tensor, validate_args: bool | None = None):
        self.log_rate = log_rate
        super().__init__(log_rate.exp(), validate_args=validate_args)

    def expand(self, batch_shape: _size, _instance: Distribution | None = None) -> LogRatePoisson:
        return LogRatePoisson(self.log_rate.expand(batch_shape), validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return value * self.log_rate - self.rate - torch.lgamma(value + 1.0)


@LIKELIHOODS.register("poisson", NoOptions)
class PoissonLikelihood(Likelihood):
    """Counts whose variance is near their mean; the decoder emits a log-rate per element."""

    data_support = constraints.nonnegative_integer

    def __init__(self, data_shape: tuple[int, ...], options: NoOptions = NoOptions()):
        super().__init__(data_shape)

    def forward(self, h: torch.Tensor) -> Distribution:
        (log_rate,) = self._split(h)  # (*lead, *data_shape)
        return self._wrap(LogRatePoisson(log_rate.clamp(*LOG_RATE_RANGE), validate_args=False))
