"""Zero-inflated negative binomial counts, as scvi-tools models single-cell reads.

    p(x) = pi * 1[x = 0] + (1 - pi) * NB(x; mu, theta)

The decoder emits a log-mean and a zero-inflation logit per element; theta is learned per feature
(gene-wise) or emitted per element, as for ``negbinomial``. torch has no such distribution, so it is
written here, scored in log space: log p(0) = logaddexp(log pi, log(1 - pi) + log NB(0)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.distributions import Distribution, NegativeBinomial, constraints
from torch.types import _size

from vaekit.core.likelihoods.negbinomial import Dispersion, DispersionLikelihood, nb_from_mean
from vaekit.registry import LIKELIHOODS


@dataclass(frozen=True)
class ZINBOptions:
    dispersion: Dispersion = "feature"  # theta learned per feature (gene), or emitted per element


class ZeroInflatedNegativeBinomial(Distribution):
    """A structural zero with probability sigmoid(zi_logits), else a draw of ``nb``."""

    arg_constraints = {"zi_logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, nb: NegativeBinomial, zi_logits: torch.Tensor, validate_args: bool | None = None):
        self.nb = nb
        self.zi_logits = zi_logits.expand(nb.batch_shape)
        super().__init__(nb.batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: _size, _instance: Distribution | None = None) -> ZeroInflatedNegativeBinomial:
        return ZeroInflatedNegativeBinomial(self.nb.expand(batch_shape), self.zi_logits.expand(batch_shape), validate_args=False)

    @property
    def zi_probs(self) -> torch.Tensor:
        return torch.sigmoid(self.zi_logits)

    @property
    def mean(self) -> torch.Tensor:
        return torch.sigmoid(-self.zi_logits) * self.nb.mean

    @property
    def variance(self) -> torch.Tensor:
        pi, m = self.zi_probs, self.nb.mean
        return (1 - pi) * (self.nb.variance + pi * m * m)

    @property
    def mode(self) -> torch.Tensor:
        nb_mode = self.nb.mode
        return torch.where(self.log_prob(torch.zeros_like(nb_mode)) >= self.log_prob(nb_mode), torch.zeros_like(nb_mode), nb_mode)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        if self._validate_args:
            self._validate_sample(value)
        log_pi = -F.softplus(-self.zi_logits)  # log sigmoid(l)
        log_not_pi = -F.softplus(self.zi_logits)  # log (1 - sigmoid(l))
        nb_part = log_not_pi + self.nb.log_prob(value)
        zero = torch.logaddexp(log_pi, log_not_pi + self.nb.log_prob(torch.zeros_like(value)))
        return torch.where(value == 0, zero, nb_part)

    def sample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            counts = self.nb.sample(sample_shape)
            inflated = torch.bernoulli(self.zi_probs.expand_as(counts))
            return counts * (1 - inflated)


@LIKELIHOODS.register("zinb", ZINBOptions)
class ZINBLikelihood(DispersionLikelihood):
    """Counts with excess zeros (single-cell reads): mean and zero-inflation logit per element."""

    extra = 1  # the zero-inflation logit

    def __init__(self, data_shape: tuple[int, ...], options: ZINBOptions = ZINBOptions()):
        super().__init__(data_shape, options.dispersion)

    def forward(self, h: torch.Tensor) -> Distribution:
        log_mu, zi_logits, log_theta = self._params(h)
        return self._wrap(ZeroInflatedNegativeBinomial(nb_from_mean(log_mu, log_theta), zi_logits, validate_args=False))
