"""Decoder likelihoods p(x|z): modules turning decoder outputs into ``torch.distributions``.

Each likelihood says how many numbers per data element the decoder must produce
(``params_per_element``) and maps that tensor to a Distribution whose ``log_prob(x)`` is
per example (event dims reinterpreted with ``Independent``). A new likelihood is a new class
and a line in ``build_likelihood`` — never a new ``if`` branch in the loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Bernoulli, Distribution, Independent, Laplace, Normal, constraints


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

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            u = torch.rand(shape, dtype=self.loc.dtype, device=self.loc.device).clamp(1e-6, 1 - 1e-6)
            x = self.loc + torch.exp(self.log_scale) * (torch.log(u) - torch.log1p(-u))
            return torch.round(x.clamp(0.0, 1.0) * (self.bins - 1)) / (self.bins - 1)


class Likelihood(nn.Module):
    """Maps decoder output (*lead, P*C, ...) to p(x|z): batch shape ``lead``, event shape ``data_shape``."""

    params_per_element: int = 1

    def __init__(self, data_shape: tuple[int, ...]):
        super().__init__()
        self.data_shape = tuple(data_shape)

    def _split(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # (*lead, P*C, H, W) or (*lead, P*D) -> P tensors of (*lead, *data_shape)
        lead = h.shape[: h.dim() - len(self.data_shape)]
        if self.params_per_element == 1:
            return (h,)
        return h.reshape(*lead, self.params_per_element, *self.data_shape).unbind(len(lead))

    def _wrap(self, base: Distribution) -> Distribution:
        return Independent(base, len(self.data_shape))


class IndependentBernoulli(Independent):
    """Independent Bernoulli pixels whose ``log_prob`` is minus the summed BCE-with-logits: the same
    numbers as ``Independent(Bernoulli).log_prob``, without negating every element (forward and
    backward) before the sum — two fewer passes over the image per training step."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        logits = self.base_dist.logits  # (*lead, *shape); value may lack leading dims (k draws of one x)
        if value.shape != logits.shape:
            logits, value = torch.broadcast_tensors(logits, value)
        bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")  # (*lead, *shape)
        return -bce.flatten(-self.reinterpreted_batch_ndims).sum(-1)  # (*lead,)


class BernoulliLikelihood(Likelihood):
    """Binary or [0, 1] data. Built from logits so log_prob is the fused BCE-with-logits kernel."""

    def forward(self, h: torch.Tensor) -> Distribution:
        (logits,) = self._split(h)
        return IndependentBernoulli(Bernoulli(logits=logits, validate_args=False), len(self.data_shape), validate_args=False)


class GaussianLikelihood(Likelihood):
    """Gaussian with a fixed scale (``learned=False``) or a learned per-element log-scale."""

    def __init__(self, data_shape: tuple[int, ...], scale: float = 1.0, learned: bool = False):
        super().__init__(data_shape)
        self.learned = learned
        if learned:
            self.log_scale = nn.Parameter(torch.zeros(self.data_shape))
        else:
            self.register_buffer("log_scale", torch.full(self.data_shape, math.log(scale)), persistent=False)

    def forward(self, h: torch.Tensor) -> Distribution:
        (loc,) = self._split(h)
        scale = torch.exp(self.log_scale.clamp(-7.0, 5.0)).expand_as(loc)
        return self._wrap(Normal(loc, scale, validate_args=False))


class LaplaceLikelihood(Likelihood):
    """Laplace with a fixed scale: an L1 reconstruction loss, robust to outlying pixels."""

    def __init__(self, data_shape: tuple[int, ...], scale: float = 1.0):
        super().__init__(data_shape)
        self.scale = scale

    def forward(self, h: torch.Tensor) -> Distribution:
        (loc,) = self._split(h)
        return self._wrap(Laplace(loc, torch.full_like(loc, self.scale), validate_args=False))


class DiscretizedLogisticLikelihood(Likelihood):
    """8-bit images: the decoder predicts a location and a log-scale per pixel."""

    params_per_element = 2

    def __init__(self, data_shape: tuple[int, ...], bins: int = 256):
        super().__init__(data_shape)
        self.bins = bins

    def forward(self, h: torch.Tensor) -> Distribution:
        loc, log_scale = self._split(h)
        loc = torch.sigmoid(loc)  # keep the location in [0, 1]
        log_scale = log_scale.clamp(min=-7.0)
        return self._wrap(DiscretizedLogistic(loc, log_scale, bins=self.bins))


def build_likelihood(name: str, data_shape: tuple[int, ...], scale: float = 1.0, bins: int = 256) -> Likelihood:
    if name == "bernoulli":
        return BernoulliLikelihood(data_shape)
    if name == "gaussian":
        return GaussianLikelihood(data_shape, scale=scale, learned=False)
    if name == "gaussian-learned":
        return GaussianLikelihood(data_shape, learned=True)
    if name == "laplace":
        return LaplaceLikelihood(data_shape, scale=scale)
    if name == "dlogistic":
        return DiscretizedLogisticLikelihood(data_shape, bins=bins)
    if name == "multinomial":
        from vaekit.core.multinomial import MultinomialLikelihood  # it subclasses Likelihood: import here, not above

        return MultinomialLikelihood(data_shape)
    from vaekit.errors import ModelError

    raise ModelError(f"unknown likelihood {name!r}: use bernoulli, gaussian, gaussian-learned, laplace, dlogistic or multinomial")
