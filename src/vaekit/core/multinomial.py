"""The multinomial likelihood of Mult-VAE (Liang, Krishnan, Hoffman & Jebara 2018).

A user's clicks x (I,) are read as N = sum(x) independent draws from one categorical distribution
pi = softmax(logits) over the I items, in the order they happened: log p(x|z) = sum_i x_i log pi_i.
That is the multinomial log-probability without its coefficient log(N! / prod x_i!), which depends
on the data alone; Liang et al. train on this form, and so every ELBO of a ratings run is of it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.distributions import Distribution, constraints

from vaekit.core.likelihoods import Likelihood
from vaekit.errors import ModelError


class ClickMultinomial(Distribution):
    """Counts over I items from ``total_count`` categorical draws with probabilities softmax(logits).

    Batch shape ``logits.shape[:-1]``, event shape (I,). ``log_prob`` is per example, without the
    multinomial coefficient (see the module docstring); it broadcasts x (B, I) against logits (k, B, I).
    """

    arg_constraints = {"logits": constraints.real_vector}
    support = constraints.nonnegative_integer
    has_rsample = False

    def __init__(self, logits: torch.Tensor, total_count: int = 1, validate_args: bool | None = None) -> None:
        self.logits = logits
        self.total_count = total_count
        super().__init__(logits.shape[:-1], logits.shape[-1:], validate_args=validate_args)

    @property
    def probs(self) -> torch.Tensor:
        return torch.softmax(self.logits, -1)  # (*batch, I)

    @property
    def mean(self) -> torch.Tensor:
        return self.total_count * self.probs

    @property
    def mode(self) -> torch.Tensor:
        return self.mean

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        log_pi = F.log_softmax(self.logits.float(), -1)  # (*batch, I); float: bf16 sums over many items drift
        return (value * log_pi).sum(-1)  # (*batch,)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """(*sample_shape, *batch, I) counts of ``total_count`` draws each."""
        with torch.no_grad():
            probs = self.probs.expand(*sample_shape, *self.probs.shape).reshape(-1, self.probs.shape[-1])  # (M, I)
            draws = torch.multinomial(probs, self.total_count, replacement=True)  # (M, total_count)
            counts = torch.zeros_like(probs).scatter_add_(1, draws, torch.ones_like(draws, dtype=probs.dtype))
            return counts.reshape(*sample_shape, *self.probs.shape)


class MultinomialLikelihood(Likelihood):
    """Implicit feedback (click or count vectors (B, I)): the decoder emits one logit per item."""

    def __init__(self, data_shape: tuple[int, ...]) -> None:
        if len(data_shape) != 1:
            raise ModelError(
                f"model.likelihood='multinomial' scores vectors of item counts (I,), but the data has shape "
                f"{tuple(data_shape)}; use it with ratings:PATH or another (N, I) table"
            )
        super().__init__(data_shape)

    def forward(self, h: torch.Tensor) -> Distribution:
        (logits,) = self._split(h)
        return ClickMultinomial(logits, validate_args=False)
