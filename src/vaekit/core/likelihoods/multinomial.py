"""Multinomial: each example is a bag of counts over its D elements (items a user clicked, words of a
document), as in Mult-VAE (Liang et al. 2018).

    log p(x) = log (n! / prod_i x_i!) + sum_i x_i log softmax(logits)_i,   n = sum_i x_i

The decoder emits one logit per element. The total n is taken as given, not modelled. The first term
(the multinomial coefficient) does not depend on the model: ``coefficient = false`` drops it, which is
Mult-VAE's unnormalised loss (same gradients; log_prob is then not a log-probability). ``mean`` and
``sample`` are for ``total_count`` draws (default 1: ``mean`` is the item probabilities that rank
recommendations).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Distribution, Multinomial, constraints
from torch.types import _size

from vaekit.config_checks import integer
from vaekit.core.likelihoods import Likelihood
from vaekit.errors import DataError
from vaekit.registry import LIKELIHOODS


@dataclass(frozen=True)
class MultinomialOptions:
    coefficient: bool = True  # add log(n! / prod x_i!) so log_prob is a log-probability; false: Mult-VAE's form
    total_count: int = 1  # draws behind `mean` and `sample` (the total of a scored x is its own sum)

    def __post_init__(self) -> None:
        integer("model.likelihood.total_count", self.total_count, 1)


class BagOfCounts(Distribution):
    """A multinomial over the flattened elements of ``event_shape``; torch's Multinomial underneath."""

    arg_constraints = {"logits": constraints.real_vector}
    support = constraints.nonnegative_integer  # per element; the total is free

    def __init__(self, logits: torch.Tensor, event_shape: tuple[int, ...], total_count: int = 1, coefficient: bool = True):
        # logits (*lead, *event_shape)
        self.logits = logits
        lead = logits.shape[: logits.dim() - len(event_shape)]
        self.flat = Multinomial(total_count, logits=logits.reshape(*lead, -1), validate_args=False)  # (*lead, D)
        self.coefficient = coefficient
        super().__init__(lead, torch.Size(event_shape), validate_args=False)

    def expand(self, batch_shape: _size, _instance: Distribution | None = None) -> BagOfCounts:
        logits = self.logits.expand(*batch_shape, *self.event_shape)
        return BagOfCounts(logits, tuple(self.event_shape), self.flat.total_count, self.coefficient)

    @property
    def probs(self) -> torch.Tensor:
        return self.flat.probs.reshape(self.logits.shape)

    @property
    def mean(self) -> torch.Tensor:
        return self.flat.total_count * self.probs

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        x = value.reshape(*value.shape[: value.dim() - len(self.event_shape)], -1)  # (..., D)
        log_probs = self.flat.logits  # normalised: log softmax
        out = (x * log_probs).sum(-1)  # (...,)
        if self.coefficient:
            out = out + torch.lgamma(x.sum(-1) + 1) - torch.lgamma(x + 1).sum(-1)
        return out

    def sample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            flat = self.flat.sample(sample_shape)  # (*S, *lead, D)
            return flat.reshape(*flat.shape[:-1], *self.event_shape)


@LIKELIHOODS.register("multinomial", MultinomialOptions)
class MultinomialLikelihood(Likelihood):
    """Bags of counts over the elements (clicks per item, words per document): one logit per element."""

    data_support = constraints.nonnegative_integer

    def __init__(self, data_shape: tuple[int, ...], options: MultinomialOptions = MultinomialOptions()):
        super().__init__(data_shape)
        self.options = options

    def check_data(self, x: torch.Tensor, what: str = "the training data") -> None:
        if bool(torch.isnan(x).any()):
            raise DataError(f"{what} has missing (NaN) entries, but a multinomial bag has none: write 0 for an absent item")
        super().check_data(x, what)

    def forward(self, h: torch.Tensor) -> Distribution:
        (logits,) = self._split(h)  # (*lead, *data_shape)
        return BagOfCounts(logits, self.data_shape, self.options.total_count, self.options.coefficient)
