"""Categorical per element: each data element is an integer class code in [0, K).

For tables of coded answers (a survey's options, a product category) or images of class maps. The
decoder emits K logits per element. A class code has no meaningful average, so ``mean`` is the most
probable class (as ``mode``): reconstructions and samples of the mean stay valid codes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.distributions import Categorical, Distribution, constraints
from torch.types import _size

from vaekit.config_checks import integer
from vaekit.core.likelihoods import Likelihood
from vaekit.registry import LIKELIHOODS


@dataclass(frozen=True)
class CategoricalOptions:
    classes: int = 2  # K: every data element is a class code 0..K-1

    def __post_init__(self) -> None:
        integer("model.likelihood.classes", self.classes, 2)


class ClassCodes(Categorical):
    """torch's Categorical over codes stored as floats (data tensors are float): log_prob takes float
    codes, sample and mean return float codes."""

    def expand(self, batch_shape: _size, _instance: Distribution | None = None) -> ClassCodes:
        return ClassCodes(logits=self.logits.expand(*batch_shape, self._num_events), validate_args=False)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        # NaN (a missing cell) scores NaN, as in every other family, instead of indexing out of range
        missing = torch.isnan(value)
        logp = super().log_prob(value.nan_to_num(0.0).long())
        return torch.where(missing, torch.full_like(logp, float("nan")), logp)

    def sample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        return super().sample(sample_shape).to(self.logits.dtype)

    @property
    def mode(self) -> torch.Tensor:
        return self.logits.argmax(-1).to(self.logits.dtype)

    @property
    def mean(self) -> torch.Tensor:
        return self.mode


@LIKELIHOODS.register("categorical", CategoricalOptions)
class CategoricalLikelihood(Likelihood):
    """Class codes 0..K-1 per element (coded table columns, label maps); K logits per element."""

    def __init__(self, data_shape: tuple[int, ...], options: CategoricalOptions = CategoricalOptions()):
        super().__init__(data_shape)
        self.classes = self.params_per_element = options.classes
        self.data_support = constraints.integer_interval(0, options.classes - 1)

    def forward(self, h: torch.Tensor) -> Distribution:
        lead = h.shape[: h.dim() - len(self.data_shape)]
        logits = h.reshape(*lead, self.classes, *self.data_shape).movedim(len(lead), -1)  # (*lead, *data_shape, K)
        return self._wrap(ClassCodes(logits=logits, validate_args=False))
