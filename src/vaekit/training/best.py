"""Which validation number keeps the best epoch (``train.best_by``): the ELBO, the k-sample bound of
a run trained on it, or a ranking metric of a ratings run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vaekit.config import TrainConfig
from vaekit.errors import ConfigError
from vaekit.evaluation.likelihood import iwae_nll
from vaekit.evaluation.ranking import parse_ranking_metrics
from vaekit.training import ddp

if TYPE_CHECKING:
    from vaekit.core.vae import VAE
    from vaekit.data.batches import TensorChunks
    from vaekit.data.streaming import StreamChunks


def resolve_best_by(t: TrainConfig, kind: str) -> str:
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


def validation_bound(model: VAE, chunks: TensorChunks | StreamChunks, k: int, env: ddp.DistEnv) -> float:
    """The validation k-sample bound (mean over the split, nats; higher is better), with the same
    posterior draws every epoch so that epochs are compared on equal noise."""
    sums = torch.zeros(2, dtype=torch.float64)  # -log p(x) bounds summed; examples
    for x, y in chunks:
        nll = iwae_nll(model, x, k, batch_size=chunks.batch_size, generator=torch.Generator().manual_seed(0), condition=y)
        sums += torch.tensor([float(nll.per_example.sum()), float(nll.per_example.numel())], dtype=torch.float64)
    totals = ddp.all_reduce_sum(sums, env)
    return -float(totals[0]) / max(float(totals[1]), 1.0)
