import math

import numpy as np
import pytest
import torch

from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.zinb import ZINBOptions


def zinb_counts(mu: list[float], theta: list[float], pi: list[float], n: int, seed: int = 0) -> torch.Tensor:
    """(n, D) zero-inflated NB draws by numpy: a structural zero with probability pi, else NB(mu, theta)."""
    rng = np.random.default_rng(seed)
    mu_a, th = np.array(mu), np.array(theta)
    counts = rng.negative_binomial(th, th / (th + mu_a), size=(n, len(mu)))
    zero = rng.random((n, len(mu))) < np.array(pi)
    return torch.from_numpy(np.where(zero, 0, counts).astype(np.float32))


def params(mu, theta, pi) -> torch.Tensor:
    """The element-dispersion decoder output (log mu, zero-inflation logit, log theta) for one example."""
    mu, theta, pi = (torch.tensor(v, dtype=torch.float64) for v in (mu, theta, pi))
    return torch.cat([mu.log(), torch.logit(pi), theta.log()])


def test_probabilities_sum_to_one_and_match_the_closed_forms():
    lik = build_likelihood("zinb", (3,), ZINBOptions(dispersion="element")).double()
    mu, theta, pi = [0.5, 5.0, 30.0], [0.3, 2.0, 50.0], [0.1, 0.5, 0.9]
    base = lik(params(mu, theta, pi)).base_dist
    k = torch.arange(0, 6000, dtype=torch.float64)[:, None].expand(-1, 3)
    p = base.log_prob(k).exp()  # (K, 3)
    torch.testing.assert_close(p.sum(0), torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-10)
    for j in range(3):  # p(0) = pi + (1 - pi) (theta / (theta + mu))^theta
        p0 = pi[j] + (1 - pi[j]) * (theta[j] / (theta[j] + mu[j])) ** theta[j]
        assert abs(float(p[0, j]) - p0) < 1e-12
    torch.testing.assert_close((p * k).sum(0), base.mean, rtol=1e-8, atol=0)
    torch.testing.assert_close((p * (k - base.mean) ** 2).sum(0), base.variance, rtol=1e-7, atol=0)


def test_zero_is_scored_stably_when_inflation_is_extreme():
    lik = build_likelihood("zinb", (1,), ZINBOptions(dispersion="element"))
    px = lik(torch.tensor([[2.0, 30.0, 0.0]]))  # pi = sigmoid(30): log p(0) ~ -1e-13, not log(0) or NaN
    assert abs(float(px.log_prob(torch.tensor([[0.0]])))) < 1e-6
    assert math.isfinite(float(lik(torch.tensor([[2.0, -30.0, 0.0]])).log_prob(torch.tensor([[0.0]]))))


@pytest.mark.parametrize("dispersion", ["feature", "element"])
def test_gradient(gradcheck, gen, dispersion):
    lik = build_likelihood("zinb", (4,), ZINBOptions(dispersion=dispersion))
    x = torch.tensor([[0.0, 3.0, 1.0, 0.0], [2.0, 0.0, 0.0, 7.0]])  # zeros and counts take different branches
    h = torch.randn(2, *lik.decoder_shape(), generator=gen, dtype=torch.float64)
    assert gradcheck(lik, x, h)


def test_recovers_mean_inflation_and_dispersion(mle):
    mu, theta, pi = [3.0, 15.0], [2.0, 4.0], [0.3, 0.6]
    fit = mle(build_likelihood("zinb", (2,)), zinb_counts(mu, theta, pi, 20000))
    truth = torch.cat([torch.tensor(mu).log(), torch.logit(torch.tensor(pi))]).double()
    fit.within("h", truth)  # h = (log mu, zero-inflation logit)
    fit.within("log_theta", torch.tensor(theta, dtype=torch.float64).log())
    assert bool((fit.stderr["h"] < 0.05).all())


def test_samples_mean_and_mode():
    torch.manual_seed(0)
    lik = build_likelihood("zinb", (2,), ZINBOptions(dispersion="element"))
    px = lik(params([4.0, 0.5], [3.0, 1.0], [0.4, 0.2]).float()[None])
    s = px.sample((8000,))
    assert bool((s >= 0).all()) and torch.equal(s, s.round())
    torch.testing.assert_close(px.mean, torch.tensor([[0.6 * 4.0, 0.8 * 0.5]]))
    torch.testing.assert_close(s.mean(0), px.mean, rtol=0.06, atol=0)
    p0 = px.base_dist.log_prob(torch.zeros(1, 2)).exp()  # (1, 2)
    torch.testing.assert_close((s == 0).float().mean(0), p0, atol=0.02, rtol=0)  # sd of a frequency <= 0.006
    mode = px.base_dist.mode  # the most probable count: 0 for both (heavy inflation)
    k = torch.arange(0, 50.0)[:, None, None].expand(-1, 1, 2)
    torch.testing.assert_close(mode, px.base_dist.log_prob(k).argmax(0).float())


def test_trains_through_the_config(one_step):
    one_step("zinb", zinb_counts([2.0] * 5, [1.0] * 5, [0.3] * 5, 16))
