"""Laplace p(x|z) with a fixed scale: an L1 reconstruction loss, robust to outlying pixels."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Distribution, Laplace

from vaekit.config_checks import number
from vaekit.core.likelihoods import Likelihood, fixed_scale
from vaekit.registry import LIKELIHOODS


@dataclass(frozen=True)
class LaplaceOptions:
    scale: float | None = None  # the fixed scale b, in data units; None: 0.1 on images, 1.0 on tables

    def __post_init__(self) -> None:
        if self.scale is not None:
            number("model.likelihood.scale", self.scale, 0.0, low_open=True)


@LIKELIHOODS.register("laplace", LaplaceOptions)
class LaplaceLikelihood(Likelihood):
    """Laplace with a fixed scale: an L1 reconstruction loss."""

    def __init__(self, data_shape: tuple[int, ...], options: LaplaceOptions = LaplaceOptions()):
        super().__init__(data_shape)
        self.scale = fixed_scale(options.scale, self.data_shape)

    def forward(self, h: torch.Tensor) -> Distribution:
        (loc,) = self._split(h)
        return self._wrap(Laplace(loc, torch.full_like(loc, self.scale), validate_args=False))
