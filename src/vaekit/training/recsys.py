"""Ratings runs in the training loop: validation ranking metrics each epoch, and which validation
number picks the best epoch (``train.best_by``; Liang et al. keep the epoch of best NDCG@100)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vaekit.config import TrainConfig
from vaekit.data.batches import SparseChunks
from vaekit.errors import ConfigError
from vaekit.evaluation.ranking import RANKING_METRICS, parse_ranking_metrics, ranking_sums, summarize
from vaekit.training import ddp

if TYPE_CHECKING:
    from vaekit.core.vae import VAE


def best_by(t: TrainConfig, kind: str) -> str:
    """``train.best_by`` resolved for data of ``kind``: 'elbo', or a ranking metric for ratings runs."""
    name = t.best_by.strip().lower()
    if name == "auto":
        return "ndcg@100" if kind == "ratings" else "elbo"
    if name == "elbo":
        return name
    try:
        (name,) = parse_ranking_metrics(name)
    except (ConfigError, ValueError):
        raise ConfigError(
            f"train.best_by {t.best_by!r}: use 'auto', 'elbo', or for ratings runs 'ndcg@K' or 'recall@K'"
        ) from None
    if kind != "ratings":
        raise ConfigError(f"train.best_by {t.best_by!r} ranks held-out users' items: it needs a ratings:PATH source; use 'elbo'")
    return name


def validation_ranking(model: VAE, chunks: SparseChunks, best: str, env: ddp.DistEnv) -> dict[str, float]:
    """Mean over the validation users of the standard ranking metrics (and ``best``, when it is
    another one); each rank scores its share, the sums are reduced."""
    names = tuple(dict.fromkeys([*RANKING_METRICS, *([best] if best != "elbo" else [])]))
    sums = ddp.all_reduce_sum(ranking_sums(model, chunks.heldout_chunks(), names), env)
    return summarize(sums, names).mean
