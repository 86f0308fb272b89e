"""Bernoulli pixels: binary images, or [0, 1] intensities read as probabilities."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Distribution, Independent

from vaekit.core.likelihoods import Likelihood
from vaekit.registry import LIKELIHOODS, NoOptions


class IndependentBernoulli(Independent):
    """Independent Bernoulli elements from logits, scored as sum(x * logits - softplus(logits)):
    the one Bernoulli log-probability of vaekit (training, evaluation and scoring all use it)."""

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        logits = self.base_dist.logits  # (*lead, *shape); value may lack leading dims (k draws of one x)
        dims = tuple(range(-self.reinterpreted_batch_ndims, 0))
        return (logits * value).sum(dims) - F.softplus(logits).sum(dims)  # (*lead,)


@LIKELIHOODS.register("bernoulli", NoOptions)
class BernoulliLikelihood(Likelihood):
    """Binary or [0, 1] data; the decoder emits one logit per element."""

    def __init__(self, data_shape: tuple[int, ...], options: NoOptions):
        super().__init__(data_shape)

    def forward(self, h: torch.Tensor) -> Distribution:
        (logits,) = self._split(h)
        return IndependentBernoulli(Bernoulli(logits=logits, validate_args=False), len(self.data_shape), validate_args=False)
