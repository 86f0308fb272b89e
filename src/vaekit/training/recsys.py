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
    """``train.best_by`` resolved for data of ``kind``: 'elbo'; 'iwae' (the validation k-sample bound,
    k of the IWAE objective, else 5), which 'auto' means for a run trained on that bound; or a ranking
    metric for ratings runs."""
    name = t.best_by.strip().lower()
    if name == "auto":
        if kind == "ratings":
            return "ndcg@100"
        return "iwae" if t.objective.kind == "iwae" else "elbo"
    if name in ("elbo", "iwae"):
        if name == "iwae" and kind == "ratings":
            raise ConfigError("train.best_by 'iwae' needs images or tables; a ratings run takes 'ndcg@K', 'recall@K' or 'elbo'")
        return name
    try:
        (name,) = parse_ranking_metrics(name)
    except (ConfigError, ValueError):
        raise ConfigError(
            f"train.best_by {t.best_by!r}: use 'auto', 'elbo', 'iwae', or for ratings runs 'ndcg@K' or 'recall@K'"
        ) from None
    if kind != "ratings":
        raise ConfigError(
            f"train.best_by {t.best_by!r} ranks held-out users' items: it needs a ratings:PATH source; use 'elbo' or 'iwae'"
        )
    return name


def iwae_samples(t: TrainConfig) -> int:
    """k of the validation bound that ``best_by = 'iwae'`` reads: the IWAE objective's own, else 5."""
    return int(t.objective.options.k) if t.objective.kind == "iwae" else 5


def validation_ranking(model: VAE, chunks: SparseChunks, best: str, env: ddp.DistEnv) -> dict[str, float]:
    """Mean over the validation users of the standard ranking metrics (and ``best``, when it is
    another one); each rank scores its share, the sums are reduced."""
    names = tuple(dict.fromkeys([*RANKING_METRICS, *([best] if best != "elbo" else [])]))
    sums = ddp.all_reduce_sum(ranking_sums(model, chunks.heldout_chunks(), names), env)
    return summarize(sums, names).mean
