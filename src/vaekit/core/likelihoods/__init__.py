"""Decoder likelihoods p(x|z): one registered family per file in this package.

A likelihood is a module that turns the decoder's output into a ``torch.distributions.Distribution``
whose ``log_prob(x)`` is per example (the data dims reinterpreted as the event). It says how many
numbers per data element the decoder must produce (``params_per_element``). A new family is a new
file here with ``@LIKELIHOODS.register(name, Options)``; nothing else changes.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.distributions import Distribution, Independent

from vaekit.registry import LIKELIHOODS


@runtime_checkable
class LikelihoodPart(Protocol):
    """What the VAE needs of a likelihood: decoder output (*lead, P*C, ...) -> p(x|z) of batch ``lead``."""

    params_per_element: int
    data_shape: tuple[int, ...]

    def __call__(self, h: torch.Tensor) -> Distribution: ...


class Likelihood(nn.Module):
    """Base: maps decoder output (*lead, P*C, ...) to p(x|z) with batch shape ``lead`` and event ``data_shape``."""

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


def build_likelihood(kind: str, data_shape: tuple[int, ...], options: Any = None) -> Likelihood:
    """The registered likelihood ``kind`` for data of ``data_shape``, with ``options`` (None: defaults)."""
    entry = LIKELIHOODS.get(kind)
    return entry.factory(tuple(data_shape), entry.options() if options is None else options)


__all__ = ["Likelihood", "LikelihoodPart", "build_likelihood"]
