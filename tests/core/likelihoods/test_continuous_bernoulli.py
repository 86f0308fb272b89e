import math

import pytest
import torch
from torch.distributions import ContinuousBernoulli

from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.continuous_bernoulli import StableContinuousBernoulli, cb_mean, cb_variance, log_normalizer

integrate = pytest.importorskip("scipy.integrate")
ETAS = [-60.0, -5.0, -0.3, -1e-4, 0.0, 1e-7, 0.004, 0.49, 0.51, 2.0, 35.0]


@pytest.mark.parametrize("eta", ETAS)
def test_density_integrates_to_one_and_mean_variance_match(eta):
    d = StableContinuousBernoulli(logits=torch.tensor(eta, dtype=torch.float64))

    def density(v: float) -> float:
        return float(d.log_prob(torch.tensor(v, dtype=torch.float64)).exp())

    points = [1e-3, 1e-2] if eta < -10 else [1 - 1e-2, 1 - 1e-3] if eta > 10 else None  # mass piled at an edge
    total, _ = integrate.quad(density, 0, 1, points=points, limit=200, epsabs=1e-13)
    mean, _ = integrate.quad(lambda v: v * density(v), 0, 1, points=points, limit=200, epsabs=1e-13)
    second, _ = integrate.quad(lambda v: v * v * density(v), 0, 1, points=points, limit=200, epsabs=1e-13)
    assert abs(total - 1.0) < 1e-9
    assert abs(mean - float(d.mean)) < 1e-9
    assert abs(second - mean**2 - float(d.variance)) < 1e-9


def test_float32_normaliser_mean_and_variance_match_float64():
    # float64 of the same closed forms is the reference; torch's own float32 ContinuousBernoulli is
    # 0.2 nats off at |eta| = 20 (it clamps sigmoid(eta)), which would fail this
    eta = torch.cat([-torch.logspace(-6, 2, 200), torch.zeros(1), torch.logspace(-6, 2, 200)])
    for f in (log_normalizer, cb_mean, cb_variance):
        ref = f(eta.double())
        assert float((f(eta).double() - ref).abs().max()) < 1e-6
    assert (
        float((log_normalizer(eta.double()) - ContinuousBernoulli(logits=eta)._cont_bern_log_norm().double()).abs().max()) > 0.1
    )
    # log C(eta) = log(eta / tanh(eta / 2)), checked in float64 away from 0
    e = torch.tensor([0.7, -3.0, 50.0], dtype=torch.float64)
    torch.testing.assert_close(log_normalizer(e), torch.log(e / torch.tanh(e / 2)))
    assert abs(float(log_normalizer(torch.tensor(0.0))) - math.log(2)) < 1e-7


def test_cdf_and_inverse_cdf_agree():
    d = StableContinuousBernoulli(logits=torch.tensor([-80.0, -3.0, -1e-3, 0.0, 1e-8, 2.0, 90.0]))
    u = torch.rand(2000, 7, generator=torch.Generator().manual_seed(0))
    x = d.icdf(u)
    assert bool(((x >= 0) & (x <= 1)).all())
    assert float((d.cdf(x) - u).abs().max()) < 1e-5


def test_gradient(gradcheck, gen):
    lik = build_likelihood("continuous-bernoulli", (4,))
    x = torch.tensor([[0.1, 0.5, 1.0, 0.0], [0.9, 0.3, 0.7, 0.2]])
    h = torch.tensor([[-2.0, 0.2, 0.7, 3.0], [1e-3, -0.49, 0.51, -9.0]], dtype=torch.float64)  # both branches
    assert gradcheck(lik, x, h)
    torch.manual_seed(0)
    eta = torch.tensor([0.0, 0.3, -4.0], dtype=torch.float64, requires_grad=True)  # rsample is differentiable too
    assert torch.autograd.gradcheck(
        lambda e: StableContinuousBernoulli(logits=e).icdf(torch.tensor([0.2, 0.5, 0.9], dtype=torch.float64)), (eta,)
    )


def test_recovers_the_logit(mle):
    etas = torch.tensor([-3.0, 0.0, 0.8, 6.0], dtype=torch.float64)
    u = torch.rand(20000, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    # inverse CDF written out independently: x = log(1 + u (e^eta - 1)) / eta, x = u at eta = 0
    safe = torch.where(etas == 0, torch.ones_like(etas), etas)
    x = torch.where(etas == 0, u, torch.log1p(u * torch.expm1(safe)) / safe)
    fit = mle(build_likelihood("continuous-bernoulli", (4,)), x)
    fit.within("h", etas)
    assert bool((fit.stderr["h"] < 0.05).all())


def test_mean_mode_and_samples():
    torch.manual_seed(0)
    px = build_likelihood("continuous-bernoulli", (3,))(torch.tensor([[-4.0, 0.0, 4.0]]))
    s = px.sample((20000,))
    assert bool(((s >= 0) & (s <= 1)).all())
    torch.testing.assert_close(s.mean(0), px.mean, atol=0.006, rtol=0)  # sd <= 0.29 / sqrt(20000)
    torch.testing.assert_close(px.base_dist.mode, torch.tensor([[0.0, 0.5, 1.0]]))
    assert abs(float(px.mean[0, 2]) - (1 / (1 - math.exp(-4)) - 1 / 4)) < 1e-6


def test_trains_through_the_config(one_step, gen):
    one_step("continuous-bernoulli", torch.rand(16, 5, generator=gen))
