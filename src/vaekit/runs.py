"""New data for a trained run: loaded the way the run's own data was, checked against it, and the
condition a conditional model needs from it.

This sits below ``evaluation`` and ``applications`` (both read run data through it) and imports
only ``checkpoint``, ``data`` and ``errors``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from vaekit.checkpoint import RunDir
from vaekit.data import DataSplits, Split, load_data
from vaekit.data.base import RatingsSplits
from vaekit.errors import DataError

if TYPE_CHECKING:
    import torch

    from vaekit.core.vae import VAE
    from vaekit.data.base import Standardizer

__all__ = ["condition_for", "load_run_data"]


def load_run_data(
    run: RunDir, source: str | None = None, data_dir: str | None = None, *, ratings: bool = False
) -> DataSplits | RatingsSplits:
    """The run's data source (or ``source``) with the run's preprocessing.

    Split seed, image size, channels and binarisation come from the run's config; a tabular
    source is re-standardised with the run's saved scaler, never a refitted one. The shape must
    match the model's input, else a DataError says what the model expects. A ratings source comes
    back (as RatingsSplits) only to callers that pass ``ratings=True``; others get a clear error.
    """
    cfg = run.config.data
    changes: dict = {"limit": None} if run.info.data_kind != "ratings" else {}  # a ratings run's limit picked its items
    if source is not None:
        changes["source"] = source
        changes["classes"] = None  # the run may be one-class; new data is scored whole
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if run.info.data_kind == "image" and source is not None and source.startswith("folder:"):
        # new folders are brought to the model's input: its size and its channel count
        changes["image_size"] = tuple(run.info.data_shape[1:])
        changes["channels"] = "rgb" if run.info.data_shape[0] == 3 else "grayscale"
    data = load_data(dataclasses.replace(cfg, **changes))
    if isinstance(data, RatingsSplits) and not ratings:  # callers that read sparse clicks say so
        raise DataError(
            f"{run.path} was trained on ratings (sparse clicks): use 'vaekit evaluate' and 'vaekit recommend' with it"
        )
    if tuple(data.shape) != tuple(run.info.data_shape):
        raise DataError(
            f"data {data.name!r} has examples of shape {tuple(data.shape)}, but the model in {run.path} "
            f"was trained on shape {tuple(run.info.data_shape)}; pass data of the model's size"
        )
    scaler = run.scaler()
    if scaler is not None and data.scaler is not None and data.scaler != scaler:
        data = _rescale(data, data.scaler, scaler)
    return data


def _rescale(data: DataSplits, fresh: Standardizer, scaler: Standardizer) -> DataSplits:
    """Undo the freshly fitted standardisation ``fresh`` (``data.scaler``) and apply the run's own."""

    from vaekit.data.columns import scale_table, source_labels

    def fix(s: Split) -> Split:  # text columns go from the source's labels to the run's by name
        return Split(scale_table(scaler, fresh.inverse(s.x), source_labels(fresh), unknown="error"), s.y)

    return dataclasses.replace(data, train=fix(data.train), validation=fix(data.validation), test=fix(data.test), scaler=scaler)


def condition_for(model: VAE, y: torch.Tensor | None, what: str) -> torch.Tensor | None:
    """The condition ``model`` needs for examples labelled ``y`` (N,): the labels themselves for a
    conditional model (it scores and encodes p(x | label)), None for any other model. ``what``
    names the examples in the error raised when a conditional model meets unlabelled data."""
    if not getattr(model, "conditional", False):
        return None
    if y is None:
        raise DataError(
            f"this model is conditional (trained with model.conditional = true: labels go to its encoder and "
            f"decoder) and {what} has no labels; use labelled data with the run's classes (e.g. the run's own "
            "source, without --data), or train an unconditional model for unlabelled inputs"
        )
    return y
