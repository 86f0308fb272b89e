"""Gaussian p(x|z) with a fixed scale (``gaussian``) or a learned per-element scale (``gaussian-learned``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.distributions import Distribution, Normal

from vaekit.config_checks import number
from vaekit.core.likelihoods import Likelihood, fixed_scale
from vaekit.registry import LIKELIHOODS, NoOptions


@dataclass(frozen=True)
class GaussianOptions:
    scale: float | None = None  # the fixed standard deviation, in data units; None: 0.1 on images, 1.0 on tables

    def __post_init__(self) -> None:
        if self.scale is not None:
            number("model.likelihood.scale", self.scale, 0.0, low_open=True)


class _Gaussian(Likelihood):
    log_scale: torch.Tensor  # a buffer, or a parameter when learned

    def forward(self, h: torch.Tensor) -> Distribution:
        (loc,) = self._split(h)
        scale = torch.exp(self.log_scale.clamp(-7.0, 5.0)).expand_as(loc)
        return self._wrap(Normal(loc, scale, validate_args=False))


@LIKELIHOODS.register("gaussian", GaussianOptions)
class GaussianLikelihood(_Gaussian):
    """Gaussian with a fixed scale: a squared-error reconstruction loss weighted by 1 / (2 scale^2)."""

    def __init__(self, data_shape: tuple[int, ...], options: GaussianOptions = GaussianOptions()):
        super().__init__(data_shape)
        self.register_buffer(
            "log_scale", torch.full(self.data_shape, math.log(fixed_scale(options.scale, self.data_shape))), persistent=False
        )


@LIKELIHOODS.register("gaussian-learned", NoOptions)
class LearnedGaussianLikelihood(_Gaussian):
    """Gaussian with a learned log-scale per data element."""

    def __init__(self, data_shape: tuple[int, ...], options: NoOptions = NoOptions()):
        super().__init__(data_shape)
        self.log_scale = nn.Parameter(torch.zeros(self.data_shape))
