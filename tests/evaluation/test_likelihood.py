import math

import pytest
import torch
from evalhelpers import exact_elbo, exact_log_px, tiny_model

from vaekit.errors import ConfigError
from vaekit.evaluation import bits_per_dim, elbo_metrics, iwae_nll


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_iwae_matches_exact_likelihood_1d_latent_and_is_below_neg_elbo(binary_x):
    model = tiny_model(latent_dim=1, seed=3)
    exact = -exact_log_px(model, binary_x)  # (N,) true NLL
    r = iwae_nll(model, binary_x, 5000, generator=gen())
    assert r.per_example.dtype == torch.float64 and r.per_example.shape == (6,)
    assert (r.per_example - exact).abs().max() < 0.05
    neg_elbo = -exact_elbo(model, binary_x)
    assert (r.per_example <= neg_elbo + 1e-6).all()
    assert (neg_elbo - exact).min() > 0.01  # the bound is not tight here, so the test means something
    assert r.mean == pytest.approx(float(r.per_example.mean()))
    assert r.stderr == pytest.approx(float(r.per_example.std() / math.sqrt(6)))


def test_iwae_matches_exact_likelihood_2d_latent_gaussian():
    model = tiny_model(latent_dim=2, data_dim=3, likelihood="gaussian", seed=5, scale=0.5)
    with torch.no_grad():  # a posterior wider than the true one: importance weights with a bounded variance
        model.encoder.head.bias[2:] += 1.5
    x = torch.randn(5, 3, generator=gen(2))
    exact = -exact_log_px(model, x, lo=-8, hi=8)
    r = iwae_nll(model, x, 5000, generator=gen())
    assert (r.per_example - exact).abs().max() < 0.05


def test_chunking_does_not_change_the_number(binary_x):
    model = tiny_model(latent_dim=3, seed=1)
    x = binary_x.repeat(3, 1)  # (18, 4)
    a = iwae_nll(model, x, 300, batch_size=18, k_chunk=300, generator=gen(7))
    b = iwae_nll(model, x, 300, batch_size=4, k_chunk=7, generator=gen(7))
    c = iwae_nll(model, x, 300, batch_size=1, k_chunk=299, generator=gen(7))
    torch.testing.assert_close(a.per_example, b.per_example, atol=1e-5, rtol=0)
    torch.testing.assert_close(a.per_example, c.per_example, atol=1e-5, rtol=0)
    d = iwae_nll(model, x, 300, batch_size=4, k_chunk=7, generator=gen(8))
    assert not torch.allclose(a.per_example, d.per_example)  # the seed matters


def test_k1_is_the_single_sample_elbo_in_expectation(binary_x):
    model = tiny_model(latent_dim=1, seed=3)
    x = binary_x.repeat(1000, 1)  # (6000, 4): many independent one-sample estimates per example
    r = iwae_nll(model, x, 1, generator=gen())
    neg_elbo = -exact_elbo(model, binary_x).repeat(1000)
    diff = r.per_example - neg_elbo  # zero mean if k=1 is an unbiased ELBO estimate
    assert abs(float(diff.mean())) < 4 * float(diff.std()) / math.sqrt(diff.shape[0])
    e = elbo_metrics(model, x, generator=gen())
    assert abs(e.elbo - float(-neg_elbo.mean())) < 4 * float(diff.std()) / math.sqrt(diff.shape[0])
    assert e.elbo == pytest.approx(-(e.recon_nll + e.kl))


def test_memory_is_bounded_by_the_chunks(binary_x):
    model = tiny_model(latent_dim=2, seed=0)
    rows = []
    forward = model.decoder.forward
    model.decoder.forward = lambda z: (rows.append(z.shape[0]), forward(z))[1]
    iwae_nll(model, binary_x, 5000, batch_size=4, k_chunk=100, generator=gen())
    assert max(rows) == 400 and sum(rows) == 5000 * 6
    rows.clear()
    iwae_nll(model, binary_x, 20000, generator=gen())  # defaults: about 4096 rows per pass whatever k is
    assert max(rows) <= 4096


def test_bad_k_is_a_clear_error(binary_x):
    model = tiny_model()
    for k in (0, -3):
        with pytest.raises(ConfigError, match="positive integer"):
            iwae_nll(model, binary_x, k)


def test_bits_per_dim():
    assert bits_per_dim(784 * math.log(2), (1, 28, 28)) == pytest.approx(1.0)


def test_full_covariance_posterior_is_exact_and_chunk_invariant():
    from vaekit.config import ModelConfig
    from vaekit.core import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", hidden=(8,), latent_dim=2, posterior="full"), (4,)).eval()
    x = torch.bernoulli(torch.full((5, 4), 0.5), generator=gen(3))
    a = iwae_nll(model, x, 400, batch_size=5, k_chunk=400, generator=gen(1))
    b = iwae_nll(model, x, 400, batch_size=2, k_chunk=33, generator=gen(1))
    torch.testing.assert_close(a.per_example, b.per_example, atol=1e-5, rtol=0)
    exact = -exact_log_px(model, x, lo=-8, hi=8)
    assert (iwae_nll(model, x, 5000, generator=gen(2)).per_example - exact).abs().max() < 0.05
