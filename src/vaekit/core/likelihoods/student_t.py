"""Student-t p(x|z): a Gaussian with heavy tails, for tables with outliers.

The decoder emits a location and a log-scale per element. The degrees of freedom are fixed
(``df = 4.0``) or, by default, learned per feature (column) as df = 1 + exp(a), so the mean exists
(df > 1) and reconstructions are defined. Small df: heavy tails; large df: close to a Gaussian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Distribution, StudentT

from vaekit.config_checks import number
from vaekit.core.likelihoods import Likelihood
from vaekit.registry import LIKELIHOODS

LOG_SCALE_RANGE = (-7.0, 5.0)
LOG_DF_EXCESS_RANGE = (-7.0, 7.0)  # learned df in 1.001..1100


@dataclass(frozen=True)
class StudentTOptions:
    df: float | None = None  # fixed degrees of freedom (> 1); None learns one per feature, starting at 5

    def __post_init__(self) -> None:
        if self.df is not None:
            number("model.likelihood.df (a number greater than 1, or unset to learn it)", self.df, 1.0, low_open=True)


@LIKELIHOODS.register("student-t", StudentTOptions)
class StudentTLikelihood(Likelihood):
    """Heavy-tailed real values (tables with outliers); location and scale per element, df fixed or learned."""

    params_per_element = 2

    def __init__(self, data_shape: tuple[int, ...], options: StudentTOptions = StudentTOptions()):
        super().__init__(data_shape)
        self.fixed_df = options.df
        if options.df is None:
            self.log_df_excess = nn.Parameter(torch.full(self.data_shape, math.log(4.0)))  # df = 1 + e^a = 5

    def df(self, like: torch.Tensor) -> torch.Tensor:
        """Degrees of freedom, (*data_shape) learned or a fixed scalar, in ``like``'s dtype."""
        if self.fixed_df is not None:
            return torch.tensor(self.fixed_df, dtype=like.dtype, device=like.device)
        return 1 + self.log_df_excess.clamp(*LOG_DF_EXCESS_RANGE).exp()

    def forward(self, h: torch.Tensor) -> Distribution:
        loc, log_scale = self._split(h)
        scale = log_scale.clamp(*LOG_SCALE_RANGE).exp()
        return self._wrap(StudentT(self.df(loc).expand_as(loc), loc, scale, validate_args=False))
