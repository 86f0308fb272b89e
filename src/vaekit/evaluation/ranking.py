"""Top-k ranking metrics for recommendation (Liang et al. 2018's protocol), as pure functions.

A held-out user's clicks are split into a part folded in (the encoder sees it) and a part scored.
Items are ranked by the decoder's p(x|z) at the posterior mean, folded-in items excluded.
``Recall@k`` = hits in the top k / min(k, |held-out|), so a perfect ranking scores 1 at every k;
``NDCG@k`` = DCG of the top k / the best DCG possible with |held-out| relevant items
(binary relevance, discount 1 / log2(rank + 1)). Both are per user; reports give the mean
over users and its standard error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vaekit.errors import ConfigError

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

RANKING_METRICS = ("recall@20", "recall@50", "ndcg@100")  # what ``vaekit evaluate`` reports by default
_NAME = re.compile(r"(recall|ndcg)@([1-9][0-9]*)")


def parse_ranking_metrics(metrics: Sequence[str] | str) -> tuple[str, ...]:
    """'recall@20,ndcg@100' -> ('recall@20', 'ndcg@100'); any recall@K or ndcg@K is allowed."""
    names = [m.strip().lower() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    if not names:
        raise ConfigError(f"no metrics given; a ratings run takes recall@K and ndcg@K, e.g. {','.join(RANKING_METRICS)}")
    bad = [n for n in names if not _NAME.fullmatch(n)]
    if bad:
        raise ConfigError(
            f"unknown metric(s) {', '.join(map(repr, bad))} for a ratings run: use recall@K and ndcg@K "
            f"(default {','.join(RANKING_METRICS)})"
        )
    return tuple(dict.fromkeys(names))


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return scores.topk(min(k, scores.shape[1]), dim=1).indices  # (B, k) best first


def recall_at_k(scores: torch.Tensor, heldout: torch.Tensor, k: int) -> torch.Tensor:
    """scores (B, I), heldout (B, I) 0/1 -> (B,) hits in the top k / min(k, held-out count)."""
    hits = heldout.gather(1, _top(scores, k)).sum(1)  # (B,)
    return hits / heldout.sum(1).clamp(max=k)


def ndcg_at_k(scores: torch.Tensor, heldout: torch.Tensor, k: int) -> torch.Tensor:
    """scores (B, I), heldout (B, I) 0/1 -> (B,) NDCG@k with binary relevance."""
    top = _top(scores, k)  # (B, k)
    discount = 1.0 / torch.log2(torch.arange(2, top.shape[1] + 2, dtype=torch.float64, device=scores.device))  # (k,)
    dcg = (heldout.gather(1, top).double() * discount).sum(1)  # (B,)
    relevant = heldout.sum(1).clamp(max=top.shape[1]).long()  # (B,)
    ideal = torch.cumsum(discount, 0)[relevant - 1]  # (B,) best DCG: all relevant items on top
    return (dcg / ideal).to(scores.dtype)


def metric(name: str, scores: torch.Tensor, heldout: torch.Tensor) -> torch.Tensor:
    """A metric by name ('recall@20', 'ndcg@100'): (B,) per user."""
    kind, k = _NAME.fullmatch(name).groups()  # type: ignore[union-attr]
    fn = recall_at_k if kind == "recall" else ndcg_at_k
    return fn(scores, heldout, int(k))


@torch.inference_mode()
def item_scores(model: VAE, clicks: torch.Tensor) -> torch.Tensor:
    """clicks (B, I) -> (B, I) scores: p(x|z) at the posterior mean (for the multinomial likelihood,
    each item's probability of being the next click), with the clicked items set to -inf."""
    device = next(model.parameters()).device
    clicks = clicks.to(device)
    scores = model.decode(model.encode(clicks).mean).mean  # (B, I)
    return scores.masked_fill(clicks > 0, -math.inf)


@dataclass(frozen=True)
class RankingResult:
    """Mean and standard error over users of each metric; ``n`` users scored."""

    mean: dict[str, float]
    stderr: dict[str, float]
    n: int


def ranking_sums(model: VAE, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]], names: Sequence[str]) -> torch.Tensor:
    """(len(names), 3) float64: per metric the sum over users, the sum of squares, and the user count,
    over (fold-in (b, I), held-out (b, I)) chunks; sums add across shards (DDP) before ``summarize``."""
    sums = torch.zeros(len(names), 3, dtype=torch.float64)
    for fold_in, held in chunks:
        scores = item_scores(model, fold_in)
        held = held.to(scores.device)
        for j, name in enumerate(names):
            v = metric(name, scores, held).double().cpu()  # (b,)
            sums[j] += torch.stack([v.sum(), (v * v).sum(), torch.tensor(float(v.numel()), dtype=torch.float64)])
    return sums


def summarize(sums: torch.Tensor, names: Sequence[str]) -> RankingResult:
    n = int(sums[0, 2]) if len(names) else 0
    mean, stderr = {}, {}
    for j, name in enumerate(names):
        m = float(sums[j, 0]) / max(n, 1)
        var = max(float(sums[j, 1]) / max(n, 1) - m * m, 0.0) * n / max(n - 1, 1)  # unbiased
        mean[name], stderr[name] = m, math.sqrt(var / max(n, 1))
    return RankingResult(mean, stderr, n)
