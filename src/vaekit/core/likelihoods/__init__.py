"""Decoder likelihoods p(x|z): one registered family per file in this package.

A likelihood is a module that turns the decoder's output into a ``torch.distributions.Distribution``
whose ``log_prob(x)`` is per example (the data dims reinterpreted as the event). It says what the
decoder must produce (``decoder_shape()``: by default ``params_per_element`` numbers per data
element). A new family is a new file here with ``@LIKELIHOODS.register(name, Options)``; nothing else
changes: the generic tests build every registered family and score data drawn from its own support.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn
from torch.distributions import Distribution, Independent, constraints

from vaekit.errors import DataError
from vaekit.registry import LIKELIHOODS


@runtime_checkable
class LikelihoodPart(Protocol):
    """What the VAE needs of a likelihood: decoder output (*lead, P*C, ...) -> p(x|z) of batch ``lead``."""

    params_per_element: int
    data_shape: tuple[int, ...]

    def decoder_shape(self) -> tuple[int, ...]: ...

    def __call__(self, h: torch.Tensor) -> Distribution: ...


class Likelihood(nn.Module):
    """Base: maps decoder output (*lead, P*C, ...) to p(x|z) with batch shape ``lead`` and event ``data_shape``."""

    params_per_element: int = 1
    # the values each data element may take, checked once on the training data by ``check_data``;
    # None: no check (Bernoulli also takes [0, 1] intensities, which torch's support would refuse)
    data_support: constraints.Constraint | None = None

    def __init__(self, data_shape: tuple[int, ...]):
        super().__init__()
        self.data_shape = tuple(data_shape)

    def decoder_shape(self) -> tuple[int, ...]:
        """The decoder's output per example: (P*C, ...) for data (C, ...); a family that needs another
        layout (one group of numbers per table column) overrides it."""
        return (self.params_per_element * self.data_shape[0], *self.data_shape[1:])

    def check_data(self, x: torch.Tensor, what: str = "the training data") -> None:
        """Raise :class:`DataError` naming the first element of x (N, *data_shape) outside ``data_support``
        (NaN marks a missing value and passes)."""
        if self.data_support is None:
            return
        bad = ~(self.data_support.check(x) | torch.isnan(x))
        if bool(bad.any()):
            at = [int(i) for i in bad.nonzero()[0]]
            raise DataError(
                f"{what} has {float(x[tuple(at)]):g} at row {at[0]}, element {at[1:]}, but model.likelihood="
                f"{self.registered_name()!r} needs {describe_support(self.data_support)}; pick a likelihood that fits the data"
                " (for a csv table, model.likelihood = 'mixed' chooses one per column)"
            )

    def registered_name(self) -> str:
        """The registry name this class was registered under (for messages)."""
        return next((e.name for e in LIKELIHOODS.entries() if e.factory is type(self)), type(self).__name__)

    @classmethod
    def example_options(cls, data_shape: tuple[int, ...]) -> Any:
        """Options the generic tests build this family with (None: the registered defaults); a family
        whose defaults cannot build on their own (the mixed table's columns) overrides it."""
        return None

    @torch.no_grad()
    def example_data(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, *data_shape) valid data of this family's support, for generic tests: draws of p(x|h) at
        random decoder outputs ``h``."""
        h = torch.randn((n, *self.decoder_shape()), generator=generator)
        return self(h).sample()

    def _split(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # (*lead, P*C, H, W) or (*lead, P*D) -> P tensors of (*lead, *data_shape)
        lead = h.shape[: h.dim() - len(self.data_shape)]
        if self.params_per_element == 1:
            return (h,)
        return h.reshape(*lead, self.params_per_element, *self.data_shape).unbind(len(lead))

    def _wrap(self, base: Distribution) -> Distribution:
        return Independent(base, len(self.data_shape))


def describe_support(support: constraints.Constraint) -> str:
    """Words for a support constraint, for error messages."""
    if isinstance(support, constraints.integer_interval):
        return f"integer codes {support.lower_bound}..{support.upper_bound}"
    if support is constraints.nonnegative_integer:
        return "non-negative integer counts"
    if support is constraints.unit_interval:
        return "values in [0, 1]"
    return f"values in {support}"


IMAGE_SCALE = 0.1  # a fixed Gaussian/Laplace scale on [0, 1] pixels (1.0 lets the KL win: the posterior collapses)


def fixed_scale(scale: float | None, data_shape: tuple[int, ...]) -> float:
    """A fixed likelihood scale: as set, or when unset 0.1 for images (C, H, W) and 1.0 for standardised tables."""
    if scale is not None:
        return scale
    return IMAGE_SCALE if len(data_shape) == 3 else 1.0


def build_likelihood(kind: str, data_shape: tuple[int, ...], options: Any = None) -> Likelihood:
    """The registered likelihood ``kind`` for data of ``data_shape``, with ``options`` (None: defaults)."""
    entry = LIKELIHOODS.get(kind)
    return entry.factory(tuple(data_shape), entry.options() if options is None else options)


__all__ = ["Likelihood", "LikelihoodPart", "build_likelihood", "describe_support"]
