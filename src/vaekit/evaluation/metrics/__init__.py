"""Metrics of ``vaekit evaluate``: one registered file each (``@METRICS.register(name)``).

A metric is a class with ``order`` (its place in reports and the offset of its random stream, so
adding or dropping a metric never changes another's number), ``default`` (run when no --metrics is
given) and ``run(ctx, generator) -> (summary, details)``: the numbers for the report's table and
everything needed to reproduce them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch

from vaekit.core.vae import VAE
from vaekit.data import DataSplits, Split


@dataclass(frozen=True)
class MetricContext:
    """What a metric may read: the model, the scored split and the evaluation's settings."""

    model: VAE
    data: DataSplits
    split: str
    x: torch.Tensor  # (N, *shape) the scored examples (binarised when the protocol asks)
    part: Split  # the split as loaded (labels in part.y)
    condition: torch.Tensor | None  # labels of a conditional model
    batch_size: int
    k: int
    iw_batch_size: int | None
    k_chunk: int | None
    seed: int
    binarize_seed: int | None
    extractor: Any  # fd: the feature extractor (N, C, H, W) -> (N, F)
    extractor_id: str | None
    extractor_info: dict[str, Any]
    n_generated: int | None
    sample_mode: Literal["auto", "mean", "draw"]
    probe_max_train: int | None
    progress: bool = False  # progress bars on stderr for the slow metrics

    def rows_bar(self, what: str) -> Any:
        """A progress bar over the evaluated rows of one slow metric (it disappears when done), or None."""
        if not self.progress:
            return None
        import sys

        from tqdm.auto import tqdm

        return tqdm(total=int(self.x.shape[0]), desc=what, unit="ex", leave=False, file=sys.stderr, dynamic_ncols=True)


Result = tuple[dict[str, float], dict[str, Any]]


@runtime_checkable
class Metric(Protocol):
    order: int
    default: bool

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result: ...


__all__ = ["Metric", "MetricContext", "Result"]
