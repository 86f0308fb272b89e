"""Laplace p(x|z) with a fixed scale: an L1 reconstruction loss, robust to outlying pixels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Distribution, Laplace

from vaekit.core.likelihoods import Likelihood
from vaekit.errors import ModelError
from vaekit.registry import LIKELIHOODS


@dataclass(frozen=True)
class LaplaceOptions:
    scale: float = 1.0  # the fixed scale b, in data units


@LIKELIHOODS.register("laplace", LaplaceOptions)
class LaplaceLikelihood(Likelihood):
    """Laplace with a fixed scale: an L1 reconstruction loss."""

    def __init__(self, data_shape: tuple[int, ...], options: LaplaceOptions = LaplaceOptions()):
        super().__init__(data_shape)
        if not (options.scale > 0 and math.isfinite(options.scale)):
            raise ModelError(f"model.likelihood.scale must be a positive number, got {options.scale}")
        self.scale = options.scale

    def forward(self, h: torch.Tensor) -> Distribution:
        (loc,) = self._split(h)
        return self._wrap(Laplace(loc, torch.full_like(loc, self.scale), validate_args=False))
