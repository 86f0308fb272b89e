import numpy as np
import pytest
import torch

from vaekit.config import RunConfig
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.beta import BetaOptions
from vaekit.errors import ConfigError

integrate = pytest.importorskip("scipy.integrate")


def beta_params(alpha: float, beta: float) -> torch.Tensor:
    """The decoder output (mean logit, log precision) for Beta(alpha, beta)."""
    return torch.tensor([np.log(alpha / beta), np.log(alpha + beta)], dtype=torch.float64)


@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (2.0, 5.0), (1.5, 1.2), (30.0, 3.0)])
def test_density_integrates_to_one(alpha, beta):
    # a tiny eps: the clamp moves about eps^min(alpha, beta) of mass (the test below checks the clamp)
    px = build_likelihood("beta", (1,), BetaOptions(eps=1e-12)).double()(beta_params(alpha, beta))
    total, _ = integrate.quad(lambda v: float(px.log_prob(torch.tensor([v], dtype=torch.float64)).exp()), 0, 1, limit=200)
    assert abs(total - 1.0) < 1e-9


def test_edges_are_scored_at_eps():
    lik = build_likelihood("beta", (2,), BetaOptions(eps=1e-3))
    h = torch.tensor([[0.3, -0.2, 1.0, 2.0]])
    px = lik(h)
    torch.testing.assert_close(px.log_prob(torch.tensor([[0.0, 1.0]])), px.log_prob(torch.tensor([[1e-3, 1 - 1e-3]])))
    assert torch.isfinite(px.log_prob(torch.tensor([[0.0, 1.0]]))).all()


def test_gradient(gradcheck, gen):
    lik = build_likelihood("beta", (3,))
    x = torch.tensor([[0.2, 0.9, 0.5], [0.01, 0.4, 0.99]])
    assert gradcheck(lik, x, torch.randn(2, 6, generator=gen, dtype=torch.float64))


def test_recovers_mean_and_precision(mle):
    alpha, beta = np.array([2.0, 0.7]), np.array([5.0, 0.9])
    x = torch.tensor(np.random.default_rng(0).beta(alpha, beta, size=(20000, 2)), dtype=torch.float32)
    fit = mle(build_likelihood("beta", (2,), BetaOptions(eps=1e-6)), x)
    fit.within("h", torch.tensor(np.concatenate([np.log(alpha / beta), np.log(alpha + beta)])))
    assert bool((fit.stderr["h"] < 0.03).all())


def test_mean_mode_and_samples_stay_inside():
    torch.manual_seed(0)
    lik = build_likelihood("beta", (2,))
    px = lik(torch.stack([beta_params(2.0, 6.0), beta_params(0.2, 0.2)], 1).reshape(1, 4).float())
    torch.testing.assert_close(px.mean, torch.tensor([[0.25, 0.5]]))
    assert abs(float(px.base_dist.mode[0, 0]) - 1 / 6) < 1e-6  # (alpha - 1) / (alpha + beta - 2)
    s = px.sample((2000,))
    assert bool(((s >= 1e-4) & (s <= 1 - 1e-4)).all())  # U-shaped Beta(0.2, 0.2) draws 0 and 1 in float32


def test_bad_eps_is_refused_when_the_config_is_read():
    with pytest.raises(ConfigError, match="eps"):
        BetaOptions(eps=0.0)
    with pytest.raises(ConfigError, match="eps"):
        RunConfig.from_dict({"model": {"likelihood": {"kind": "beta", "eps": 0.7}}})


def test_trains_through_the_config(one_step, gen):
    one_step({"kind": "beta", "eps": 1e-3}, torch.rand(16, 5, generator=gen))
