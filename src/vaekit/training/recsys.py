"""Ratings runs in the training loop: validation ranking metrics each epoch (``train.best_by`` may
keep the epoch of best NDCG@100, as Liang et al. do; see best.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaekit.data.batches import SparseChunks
from vaekit.evaluation.ranking import RANKING_METRICS, ranking_sums, summarize
from vaekit.training import ddp

if TYPE_CHECKING:
    from vaekit.core.vae import VAE


def validation_ranking(model: VAE, chunks: SparseChunks, best: str, env: ddp.DistEnv) -> dict[str, float]:
    """Mean over the validation users of the standard ranking metrics (and ``best``, when it is
    another one); each rank scores its share, the sums are reduced."""
    names = tuple(dict.fromkeys([*RANKING_METRICS, *([best] if best != "elbo" else [])]))
    sums = ddp.all_reduce_sum(ranking_sums(model, chunks.heldout_chunks(), names), env)
    return summarize(sums, names).mean
