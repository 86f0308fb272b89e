"""A mixed likelihood takes its columns from the table: the config resolved before and after loading.

``model.likelihood = "mixed"`` with no columns means "a family per column, from the data". Before the
data is loaded, column typing is switched on (``data.column_types = {}``) so that only numeric columns
are standardised; after, the columns are filled from the kinds the csv reader found. Both land in
config.json, so the saved config rebuilds the same model from the same data.
"""

from __future__ import annotations

from dataclasses import replace

from vaekit.config import LikelihoodPart, RunConfig
from vaekit.core.likelihoods.mixed import MixedOptions, kind_columns
from vaekit.data.base import DataSplits
from vaekit.data.columns import ColumnScaler
from vaekit.errors import ConfigError


def typed_data(cfg: RunConfig) -> RunConfig:
    """A mixed likelihood reads typed columns: data.column_types None -> {} (every kind detected)."""
    if cfg.model.likelihood.kind == "mixed" and cfg.data.column_types is None:
        return replace(cfg, data=replace(cfg.data, column_types={}))
    return cfg


def resolve_columns(cfg: RunConfig, data: object) -> RunConfig:
    """Fill an empty mixed likelihood's columns from the detected kinds (numeric -> gaussian-learned,
    count -> negbinomial, binary -> bernoulli, categorical -> categorical:K)."""
    lik = cfg.model.likelihood
    if lik.kind != "mixed" or lik.options.columns:
        return cfg
    scaler = data.scaler if isinstance(data, DataSplits) else None
    if not isinstance(scaler, ColumnScaler):
        raise ConfigError(
            "model.likelihood = 'mixed' with no columns picks a family per column of a csv: source; "
            "for other data list one per column in model.likelihood.columns"
        )
    columns = kind_columns(scaler.kinds, scaler.classes())
    return replace(cfg, model=replace(cfg.model, likelihood=LikelihoodPart("mixed", MixedOptions(columns=columns))))


def resumed_columns(new: RunConfig, saved: RunConfig) -> RunConfig:
    """A resumed run's config that leaves the columns to the data takes the ones the run resolved."""
    if new.model.likelihood.kind == "mixed" and not new.model.likelihood.options.columns:
        new = replace(new, model=replace(new.model, likelihood=saved.model.likelihood))
    if new.data.column_types is None and saved.data.column_types is not None and new.model.likelihood.kind == "mixed":
        new = replace(new, data=replace(new.data, column_types=saved.data.column_types))
    return new
