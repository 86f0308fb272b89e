"""Recall@k and NDCG@k against cases worked by hand, and the fold-in scoring around them."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.errors import ConfigError
from vaekit.evaluation.ranking import item_scores, ndcg_at_k, parse_ranking_metrics, ranking_sums, recall_at_k, summarize

# one user ranks the six items 0, 2, 4, 3, 5, 1; the first holds out items {2, 5}, the second item {0}
SCORES = torch.tensor([[0.9, 0.1, 0.8, 0.3, 0.7, 0.2], [0.9, 0.1, 0.8, 0.3, 0.7, 0.2]])
HELD = torch.tensor([[0.0, 0, 1, 0, 0, 1], [1.0, 0, 0, 0, 0, 0]])


def test_recall_is_normalised_by_the_smaller_of_k_and_the_held_out_count():
    torch.testing.assert_close(recall_at_k(SCORES, HELD, 1), torch.tensor([0.0, 1.0]))  # 0/min(1,2), 1/min(1,1)
    torch.testing.assert_close(recall_at_k(SCORES, HELD, 2), torch.tensor([0.5, 1.0]))  # item 2 at rank 2: 1/2
    torch.testing.assert_close(recall_at_k(SCORES, HELD, 5), torch.tensor([1.0, 1.0]))  # item 5 at rank 5
    torch.testing.assert_close(recall_at_k(SCORES, HELD, 100), torch.tensor([1.0, 1.0]))  # k beyond the items


def test_ndcg_by_hand():
    ideal = 1 + 1 / math.log2(3)  # two relevant items at ranks 1 and 2
    got3, got5 = ndcg_at_k(SCORES, HELD, 3), ndcg_at_k(SCORES, HELD, 5)
    assert got3[0].item() == pytest.approx((1 / math.log2(3)) / ideal)  # only item 2, at rank 2
    assert got5[0].item() == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / ideal)  # and item 5 at rank 5
    assert got3[1].item() == pytest.approx(1.0)  # the one held-out item first
    assert ndcg_at_k(SCORES, HELD, 1)[0].item() == 0.0
    perfect = HELD * 10 + SCORES
    torch.testing.assert_close(ndcg_at_k(perfect, HELD, 100), torch.ones(2))


def test_metric_names():
    assert parse_ranking_metrics("Recall@20, ndcg@100") == ("recall@20", "ndcg@100")
    for bad in ("nll", "recall@0", "ndcg@", ""):
        with pytest.raises(ConfigError):
            parse_ranking_metrics(bad)


def test_fold_in_items_are_never_recommended_and_sums_give_mean_and_stderr():
    torch.manual_seed(0)
    model = build_model(ModelConfig(likelihood="multinomial", latent_dim=2, hidden=(8,)), (6,)).eval()
    fold = torch.tensor([[1.0, 1, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1], [0, 1, 0, 1, 0, 0]])
    held = torch.tensor([[0.0, 0, 1, 0, 0, 0], [1.0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1.0]])
    scores = item_scores(model, fold)
    assert torch.equal(torch.isinf(scores), fold > 0)
    assert torch.all(scores.topk(4, dim=1).indices.unsqueeze(-1) != fold.nonzero()[:, 1].view(3, 2).unsqueeze(1))
    names = ("recall@2", "ndcg@3")
    r = summarize(ranking_sums(model, [(fold[:2], held[:2]), (fold[2:], held[2:])], names), names)
    per_user = ndcg_at_k(scores, held, 3).numpy()
    assert r.n == 3 and r.mean["ndcg@3"] == pytest.approx(per_user.mean())
    assert r.stderr["ndcg@3"] == pytest.approx(per_user.std(ddof=1) / np.sqrt(3))
