"""8-bit images: a logistic distribution discretised to ``bins`` levels on [0, 1] (PixelCNN++ / IAF-VAE)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch.distributions import Distribution, constraints
from torch.types import _size

from vaekit.config_checks import integer
from vaekit.core.likelihoods import Likelihood
from vaekit.errors import ConfigError
from vaekit.registry import LIKELIHOODS


@dataclass(frozen=True)
class DiscretizedLogisticOptions:
    bins: int = 256  # number of intensity levels (256 for 8-bit images)
    # "free": the decoder's location is unbounded, so an edge level (a black background) can take
    # almost all the mass; "sigmoid": squashed into [0, 1], which caps P(x = 0) near 0.9 (about 0.15
    # bits per background pixel: see BENCHMARKS.md); what runs saved before this option used.
    location: Literal["free", "sigmoid"] = "free"

    SAVED_DEFAULTS: ClassVar[dict[str, object]] = {"location": "sigmoid"}  # what a config.json without the key meant

    def __post_init__(self) -> None:
        integer("model.likelihood.bins", self.bins, 2)
        if self.location not in ("free", "sigmoid"):
            raise ConfigError(f"model.likelihood.location must be 'free' or 'sigmoid', got {self.location!r}")


class DiscretizedLogistic(Distribution):
    """Logistic distribution discretised to ``bins`` levels on [0, 1] (PixelCNN++/IAF-VAE style).

    Data values are expected on the grid k / (bins - 1). The edge bins take the tails, so the
    probabilities of the ``bins`` levels sum to one exactly.
    """

    arg_constraints = {"loc": constraints.real, "log_scale": constraints.real}
    support = constraints.unit_interval
    has_rsample = False

    def __init__(self, loc: torch.Tensor, log_scale: torch.Tensor, bins: int = 256, validate_args=None):
        self.loc, self.log_scale = torch.broadcast_tensors(loc, log_scale)
        self.bins = bins
        super().__init__(self.loc.shape, validate_args=validate_args)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc.clamp(0.0, 1.0)

    @property
    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        half = 0.5 / (self.bins - 1)
        inv_s = torch.exp(-self.log_scale)
        centered = value - self.loc
        upper = inv_s * (centered + half)
        lower = inv_s * (centered - half)
        # log(sigmoid(u) - sigmoid(l)) computed stably: log sigmoid(u) + log(1 - exp(log sig(l) - log sig(u)))
        cdf_delta = torch.sigmoid(upper) - torch.sigmoid(lower)
        log_cdf_upper = F.logsigmoid(upper)  # used at the bottom edge: P(x <= 0 + half)
        log_one_minus_cdf_lower = -F.softplus(lower)  # used at the top edge: P(x > 1 - half)
        # in the far tails cdf_delta underflows; fall back to the density times the bin width
        mid = inv_s * centered
        log_pdf_mid = mid - self.log_scale - 2.0 * F.softplus(mid)
        log_mid = torch.where(
            cdf_delta > 1e-5,
            torch.log(cdf_delta.clamp_min(1e-12)),
            log_pdf_mid + math.log(2 * half),
        )
        eps = 1e-3 * half
        return torch.where(value < eps, log_cdf_upper, torch.where(value > 1.0 - eps, log_one_minus_cdf_lower, log_mid))

    def sample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device).clamp(1e-6, 1 - 1e-6)
            x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
            return torch.round(x.clamp(0.0, 1.0) * (self.bins - 1)) / (self.bins - 1)


@LIKELIHOODS.register("dlogistic", DiscretizedLogisticOptions)
class DiscretizedLogisticLikelihood(Likelihood):
    """8-bit images: the decoder predicts a location and a log-scale per pixel."""

    params_per_element = 2

    def __init__(self, data_shape: tuple[int, ...], options: DiscretizedLogisticOptions = DiscretizedLogisticOptions()):
        super().__init__(data_shape)
        self.bins = options.bins
        self.location = options.location

    def forward(self, h: torch.Tensor) -> Distribution:
        loc, log_scale = self._split(h)
        if self.location == "sigmoid":
            loc = torch.sigmoid(loc)
        log_scale = log_scale.clamp(min=-7.0)
        return self._wrap(DiscretizedLogistic(loc, log_scale, bins=self.bins))
