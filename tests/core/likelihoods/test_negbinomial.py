import numpy as np
import pytest
import torch

from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.negbinomial import NegBinomialOptions
from vaekit.errors import ConfigError, ModelError


def nb_counts(mu: list[float], theta: list[float], n: int, seed: int = 0) -> torch.Tensor:
    """(n, D) negative binomial draws with mean mu and inverse dispersion theta, by numpy (not the code under test)."""
    mu_a, th = np.array(mu), np.array(theta)
    x = np.random.default_rng(seed).negative_binomial(th, th / (th + mu_a), size=(n, len(mu)))
    return torch.from_numpy(x.astype(np.float32))


def test_probabilities_sum_to_one_and_match_the_moments():
    lik = build_likelihood("negbinomial", (3,), NegBinomialOptions(dispersion="element")).double()
    mu = torch.tensor([0.5, 5.0, 30.0], dtype=torch.float64)
    theta = torch.tensor([0.3, 2.0, 50.0], dtype=torch.float64)
    base = lik(torch.cat([mu.log(), theta.log()])).base_dist
    k = torch.arange(0, 6000, dtype=torch.float64)[:, None].expand(-1, 3)
    p = base.log_prob(k).exp()  # (K, 3)
    torch.testing.assert_close(p.sum(0), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-10)
    torch.testing.assert_close((p * k).sum(0), mu, rtol=1e-8, atol=0)
    torch.testing.assert_close((p * (k - mu) ** 2).sum(0), mu + mu**2 / theta, rtol=1e-7, atol=0)


@pytest.mark.parametrize("dispersion", ["feature", "element"])
def test_gradient(gradcheck, gen, dispersion):
    lik = build_likelihood("negbinomial", (4,), NegBinomialOptions(dispersion=dispersion))
    x = nb_counts([1.0, 3.0, 0.2, 8.0], [1.0, 2.0, 0.5, 9.0], 3)
    h = torch.randn(3, *lik.decoder_shape(), generator=gen, dtype=torch.float64)
    assert gradcheck(lik, x, h)


def test_recovers_mean_and_gene_wise_dispersion(mle):
    mu, theta = [2.0, 20.0], [0.5, 5.0]
    fit = mle(build_likelihood("negbinomial", (2,)), nb_counts(mu, theta, 20000))
    fit.within("h", torch.tensor(mu, dtype=torch.float64).log())  # h = log mu
    fit.within("log_theta", torch.tensor(theta, dtype=torch.float64).log())
    assert bool((fit.stderr["log_theta"] < 0.05).all())  # N = 20000 pins theta to a few percent


def test_element_dispersion_reads_log_theta_from_the_decoder(mle):
    mu, theta = [3.0, 10.0], [1.0, 4.0]
    fit = mle(
        build_likelihood("negbinomial", (2,), NegBinomialOptions(dispersion="element")), nb_counts(mu, theta, 20000, seed=1)
    )
    fit.within("h", torch.tensor(mu + theta, dtype=torch.float64).log())  # h = (log mu, log theta)


def test_mean_mode_and_samples():
    torch.manual_seed(0)
    lik = build_likelihood("negbinomial", (2,), NegBinomialOptions(dispersion="element"))
    px = lik(torch.tensor([[1.0, 3.0, 0.0, 2.0]]))  # mu = e, e^3; theta = 1, e^2
    torch.testing.assert_close(px.mean, torch.tensor([[1.0, 3.0]]).exp())
    s = px.sample((4000,))
    assert bool((s >= 0).all()) and torch.equal(s, s.round())
    torch.testing.assert_close(s.mean(0), px.mean, rtol=0.08, atol=0)  # sd/sqrt(4000) is under 3% of each mean


def test_bad_options():
    with pytest.raises(ConfigError, match="dispersion"):
        from vaekit.config import ModelConfig

        ModelConfig(likelihood={"kind": "negbinomial", "dispersion": "gene"})
    with pytest.raises(ModelError, match="dispersion"):
        build_likelihood("negbinomial", (2,), NegBinomialOptions(dispersion="gene"))  # type: ignore[arg-type]


def test_trains_through_the_config(one_step):
    one_step({"kind": "negbinomial", "dispersion": "feature"}, nb_counts([2.0] * 5, [1.0] * 5, 16))
