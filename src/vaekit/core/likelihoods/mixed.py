"""Mixed tables: one registered family per column, composed into one p(x|z).

``columns`` names a family per column of a (D,) table, e.g. ``["gaussian-learned", "negbinomial",
"categorical:4", "bernoulli"]`` (``name:K`` sets the family's ``classes``). Columns of the same family
share one sub-likelihood, so the decoder emits each family's parameters for its columns, one block
after another (``decoder_shape``). Left empty, ``columns`` is filled at fit time from the kinds the
csv reader detected (``kind_columns``: numeric -> gaussian-learned, count -> negbinomial, binary ->
bernoulli, categorical -> categorical:K) and saved explicitly in config.json.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import torch
from torch import nn
from torch.distributions import Distribution, Independent, constraints
from torch.types import _size

from vaekit.core.likelihoods import Likelihood, build_likelihood, describe_support
from vaekit.errors import DataError, ModelError
from vaekit.registry import LIKELIHOODS

FAMILY_OF_KIND = {"numeric": "gaussian-learned", "count": "negbinomial", "binary": "bernoulli", "categorical": "categorical"}


@dataclass(frozen=True)
class MixedOptions:
    columns: tuple[str, ...] = ()  # a family per column ("categorical:K" sets K); empty: chosen from the csv at fit time


def kind_columns(kinds: Sequence[str], classes: Sequence[int]) -> tuple[str, ...]:
    """The family of each column from its detected kind (numeric, count, binary, categorical) and, for
    categorical columns, its number of classes."""
    return tuple(f"categorical:{k}" if kind == "categorical" else FAMILY_OF_KIND[kind] for kind, k in zip(kinds, classes))


def parse_column(spec: str) -> tuple[str, object]:
    """ "categorical:4" -> ("categorical", CategoricalOptions(classes=4)); "poisson" -> ("poisson", defaults)."""
    name, _, arg = spec.partition(":")
    if name == "mixed" or name not in LIKELIHOODS:
        choices = ", ".join(n for n in LIKELIHOODS.names() if n != "mixed")
        raise ModelError(
            f"model.likelihood.columns: {spec!r} is not a family; use one of {choices} (categorical as 'categorical:K')"
        )
    options_type = LIKELIHOODS.get(name).options
    if not arg:
        return name, options_type()
    fields = {f.name for f in dataclasses.fields(options_type)}
    if "classes" not in fields or not arg.isdigit():
        raise ModelError(f"model.likelihood.columns: {spec!r}: only a family with classes takes ':K' (e.g. 'categorical:4')")
    return name, options_type(classes=int(arg))


class ColumnFamilies(Distribution):
    """Per-element distribution of a table row (batch (*lead, D), event ()): each column scored by its
    family. ``parts`` are the families' base distributions (batch (*lead, n_g)) over columns ``index``."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.real  # per column the family's own; ``MixedLikelihood.check_data`` checks them

    def __init__(self, parts: list[Distribution], index: list[torch.Tensor], order: torch.Tensor):
        self.parts, self.index, self.order = parts, index, order  # order: column -> position in the concatenation
        lead = parts[0].batch_shape[:-1]
        super().__init__(torch.Size((*lead, len(order))), validate_args=False)

    def _gather(self, per_part: list[torch.Tensor]) -> torch.Tensor:
        # (..., n_g) blocks in family order -> (..., D) in column order
        shape = torch.broadcast_shapes(*(t.shape[:-1] for t in per_part))
        return torch.cat([t.expand(*shape, t.shape[-1]) for t in per_part], -1).index_select(-1, self.order)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        return self._gather([p.log_prob(value.index_select(-1, i)) for p, i in zip(self.parts, self.index)])

    def sample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        return self._gather([p.sample(sample_shape) for p in self.parts])

    @property
    def mean(self) -> torch.Tensor:
        return self._gather([p.mean for p in self.parts])

    @property
    def mode(self) -> torch.Tensor:
        return self._gather([p.mode for p in self.parts])


@LIKELIHOODS.register("mixed", MixedOptions)
class MixedLikelihood(Likelihood):
    """Tables of mixed columns (numeric, count, binary, categorical): a family per column, from the csv."""

    order: torch.Tensor  # buffer

    def __init__(self, data_shape: tuple[int, ...], options: MixedOptions = MixedOptions()):
        super().__init__(data_shape)
        if len(self.data_shape) != 1:
            raise ModelError(f"model.likelihood = 'mixed' is for (D,) tables, but the data has shape {self.data_shape}")
        if not options.columns:
            raise ModelError(
                "model.likelihood = 'mixed' needs its columns: train on a csv: source (they are detected), "
                "or list a family per column in model.likelihood.columns"
            )
        if len(options.columns) != self.data_shape[0]:
            raise ModelError(
                f"model.likelihood.columns lists {len(options.columns)} families for a table of {self.data_shape[0]} columns"
            )
        self.columns = tuple(options.columns)
        specs = sorted(set(self.columns), key=self.columns.index)  # families in order of first use
        self.families = nn.ModuleList()
        index, sizes = [], []
        for spec in specs:
            cols = [j for j, c in enumerate(self.columns) if c == spec]
            name, family_options = parse_column(spec)
            family = build_likelihood(name, (len(cols),), family_options)
            if not isinstance(family(torch.zeros(1, *family.decoder_shape())), Independent):
                raise ModelError(f"model.likelihood.columns: {name!r} scores whole rows, not single columns")
            self.families.append(family)
            index.append(torch.tensor(cols))
            sizes.append(family.decoder_shape()[0])
        self.index = index
        self.sizes = sizes
        self.register_buffer("order", torch.argsort(torch.cat(index)), persistent=False)

    def decoder_shape(self) -> tuple[int, ...]:
        return (sum(self.sizes),)

    def forward(self, h: torch.Tensor) -> Distribution:
        blocks = h.split(self.sizes, -1)  # (*lead, P_g * n_g) per family
        parts = [family(block).base_dist for family, block in zip(self.families, blocks)]
        index = [i.to(h.device) for i in self.index]
        return Independent(ColumnFamilies(parts, index, self.order), 1)

    def check_data(self, x: torch.Tensor, what: str = "the training data") -> None:
        for family, cols in zip(self.families, self.index):
            support = cast(Likelihood, family).data_support
            if support is None:
                continue
            part = x.index_select(-1, cols)
            bad = ~(support.check(part) | torch.isnan(part))
            if bool(bad.any()):
                row, at = (int(i) for i in bad.nonzero()[0])
                j = int(cols[at])
                raise DataError(
                    f"{what} has {float(x[row, j]):g} at row {row}, column {j}, but its family {self.columns[j]!r} "
                    f"needs {describe_support(support)}; change that column's entry in model.likelihood.columns "
                    "(or its kind in data.column_types)"
                )

    @classmethod
    def example_options(cls, data_shape: tuple[int, ...]) -> MixedOptions:
        cycle = ("gaussian-learned", "negbinomial", "categorical:3", "bernoulli", "student-t")
        return MixedOptions(columns=tuple(cycle[j % len(cycle)] for j in range(data_shape[0])))
