"""Negative binomial counts in the mean / inverse-dispersion form scvi-tools uses: NB(mu, theta).

Var = mu + mu^2 / theta: overdispersed counts (theta -> infinity is Poisson). The decoder emits a
log-mean per element; the inverse dispersion theta is learned per feature (``dispersion =
"feature"``, scvi's gene-wise theta) or emitted by the decoder per element (``"element"``).
torch's ``NegativeBinomial(total_count=theta, logits=log mu - log theta)`` is exactly this law.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.distributions import Distribution, NegativeBinomial, constraints

from vaekit.core.likelihoods import Likelihood
from vaekit.errors import ModelError
from vaekit.registry import LIKELIHOODS

LOG_MEAN_RANGE = (-20.0, 20.0)  # means e^-20..e^20: finite exp() and gradients in float32
LOG_THETA_RANGE = (-10.0, 15.0)  # theta e^15 ~ 3e6 is Poisson for any count a table holds

Dispersion = Literal["feature", "element"]


@dataclass(frozen=True)
class NegBinomialOptions:
    dispersion: Dispersion = "feature"  # theta learned per feature (column / gene), or emitted per element


def nb_from_mean(log_mu: torch.Tensor, log_theta: torch.Tensor) -> NegativeBinomial:
    """NB with mean exp(log_mu) and inverse dispersion exp(log_theta), both clamped to finite ranges."""
    log_mu, log_theta = log_mu.clamp(*LOG_MEAN_RANGE), log_theta.clamp(*LOG_THETA_RANGE)
    return NegativeBinomial(total_count=log_theta.exp(), logits=log_mu - log_theta, validate_args=False)


class DispersionLikelihood(Likelihood):
    """Base of the NB families: ``extra`` decoder numbers per element, then theta's (per element or learned)."""

    extra: int = 0  # decoder numbers per element before the dispersion (ZINB: the zero-inflation logit)
    data_support = constraints.nonnegative_integer

    def __init__(self, data_shape: tuple[int, ...], dispersion: Dispersion):
        super().__init__(data_shape)
        if dispersion not in ("feature", "element"):
            raise ModelError(f"model.likelihood.dispersion must be 'feature' or 'element', got {dispersion!r}")
        self.dispersion = dispersion
        self.params_per_element = 1 + self.extra + (dispersion == "element")
        if dispersion == "feature":
            self.log_theta = nn.Parameter(torch.zeros(self.data_shape))  # theta = 1 to start

    def _params(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(*lead, P*C, ...) -> log_mu, the extras, log_theta; each (*lead, *data_shape)."""
        parts = self._split(h)
        if self.dispersion == "element":
            return parts
        return (*parts, self.log_theta.expand_as(parts[0]))


@LIKELIHOODS.register("negbinomial", NegBinomialOptions)
class NegBinomialLikelihood(DispersionLikelihood):
    """Overdispersed counts (reads, visits, purchases): a mean per element, theta per feature or element."""

    def __init__(self, data_shape: tuple[int, ...], options: NegBinomialOptions = NegBinomialOptions()):
        super().__init__(data_shape, options.dispersion)

    def forward(self, h: torch.Tensor) -> Distribution:
        log_mu, log_theta = self._params(h)
        return self._wrap(nb_from_mean(log_mu, log_theta))
