"""Where data comes from: :func:`load_data` turns a DataConfig into float tensors split into
train/validation/test; :func:`iterate_batches` yields index batches over them."""

from __future__ import annotations

from vaekit.data.base import DataSplits, Split, Standardizer
from vaekit.data.batches import dynamic_binarize, iterate_batches
from vaekit.data.registry import available_sources, load_data

__all__ = [
    "DataSplits",
    "Split",
    "Standardizer",
    "available_sources",
    "dynamic_binarize",
    "iterate_batches",
    "load_data",
]
