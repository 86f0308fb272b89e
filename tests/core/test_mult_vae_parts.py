"""The multinomial likelihood in Mult-VAE's form (no coefficient), the encoder's input preparation and the DAE objective."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Multinomial

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.multinomial import BagOfCounts, MultinomialOptions
from vaekit.core.networks import PreparedInput
from vaekit.errors import ModelError
from vaekit.training.objectives.dae import dae


def test_log_prob_is_the_multinomial_pmf_without_its_coefficient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, generator=g)
    x = torch.randint(0, 3, (4, 7), generator=g).float()
    ours = BagOfCounts(logits, (logits.shape[-1],), coefficient=False).log_prob(x)
    for b in range(4):
        n = int(x[b].sum())
        exact = Multinomial(n, logits=logits[b]).log_prob(x[b])
        coefficient = math.lgamma(n + 1) - sum(math.lgamma(v + 1) for v in x[b].tolist())
        torch.testing.assert_close(ours[b], exact - coefficient)


def test_log_prob_broadcasts_over_k_posterior_draws_and_sample_draws_total_count():
    logits = torch.randn(3, 2, 5)  # (k, B, I)
    x = torch.tensor([[1.0, 0, 0, 1, 0], [0, 0, 1, 0, 0]])  # (B, I)
    lp = BagOfCounts(logits, (logits.shape[-1],), coefficient=False).log_prob(x)
    assert lp.shape == (3, 2)
    torch.testing.assert_close(lp[1, 0], torch.log_softmax(logits[1, 0], -1)[[0, 3]].sum())
    counts = BagOfCounts(torch.zeros(2, 5), (5,), total_count=7).sample((4,))
    assert counts.shape == (4, 2, 5) and torch.all(counts.sum(-1) == 7)
    torch.testing.assert_close(BagOfCounts(torch.zeros(5), (5,), total_count=2).mean, torch.full((5,), 0.4))


def test_multinomial_is_a_model_likelihood_in_mult_vaes_form():
    model = build_model(ModelConfig(likelihood={"kind": "multinomial", "coefficient": False}, latent_dim=3, hidden=(8,)), (6,))
    px = model.decode(torch.zeros(2, 3))
    assert isinstance(px, BagOfCounts) and px.batch_shape == (2,) and px.event_shape == (6,)
    lik = build_likelihood("multinomial", (6,), MultinomialOptions(coefficient=False))
    x = torch.tensor([[2.0, 0, 1, 0, 0, 0]])
    torch.testing.assert_close(lik(torch.zeros(1, 6)).log_prob(x), torch.tensor([3 * math.log(1 / 6)]))


def test_prepared_input_normalises_rows_and_drops_out_only_while_training():
    seen = []

    class Record(torch.nn.Module):
        def forward(self, x, c=None):
            seen.append(x)
            return x

    enc = PreparedInput(Record(), normalize=True, dropout=0.5)
    x = torch.tensor([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]])
    enc.eval()
    enc(x)
    torch.testing.assert_close(seen[-1], torch.tensor([[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]]))
    enc.train()
    torch.manual_seed(0)
    out = enc(torch.ones(200, 4))
    kept = out != 0
    assert 0.3 < kept.float().mean() < 0.7 and torch.allclose(out[kept], torch.full_like(out[kept], 0.5 / 0.5))
    model = build_model(ModelConfig(latent_dim=2, hidden=(8,), normalize_input=True, input_dropout=0.5), (6,))
    assert isinstance(model.encoder, PreparedInput)
    with pytest.raises(ModelError, match="input_dropout"):
        build_model(ModelConfig(input_dropout=1.0), (6,))


def test_dae_scores_the_posterior_location_and_has_no_kl():
    torch.manual_seed(0)
    model = build_model(
        ModelConfig(likelihood={"kind": "multinomial", "coefficient": False}, latent_dim=3, hidden=(8,)), (6,)
    ).eval()
    x = torch.tensor([[1.0, 0, 1, 0, 0, 0], [0, 1, 0, 0, 0, 1]])
    terms = dae(model, x)
    expected = -model.decode(model.encode(x).mean).log_prob(x).mean()  # the noise is ignored
    torch.testing.assert_close(terms.recon_nll, expected)
    assert float(terms.kl) == 0.0 and torch.equal(terms.loss, terms.recon_nll)
    terms.loss.backward()
    scale_head = model.encoder.head.weight.grad[3:]  # the posterior scale's rows get no gradient
    assert torch.count_nonzero(scale_head) == 0 and torch.count_nonzero(model.encoder.head.weight.grad[:3]) > 0
