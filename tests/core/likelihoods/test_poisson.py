import math

import torch

from vaekit.core.likelihoods import build_likelihood
from vaekit.errors import DataError


def test_probabilities_sum_to_one_over_the_counts():
    lik = build_likelihood("poisson", (3,)).double()
    rates = torch.tensor([0.1, 3.0, 40.0], dtype=torch.float64)
    k = torch.arange(0, 400, dtype=torch.float64)[:, None].expand(-1, 3)  # (K, 3)
    per_element = lik(rates.log()).base_dist.log_prob(k).exp().sum(0)  # (3,)
    torch.testing.assert_close(per_element, torch.ones(3, dtype=torch.float64), rtol=0, atol=1e-12)


def test_log_prob_is_the_closed_form_even_for_tiny_rates():
    lik = build_likelihood("poisson", (2,))
    h = torch.tensor([[-18.0, 2.0]])
    x = torch.tensor([[3.0, 5.0]])
    expected = sum(xi * hi - math.exp(hi) - math.lgamma(xi + 1) for xi, hi in zip([3.0, 5.0], [-18.0, 2.0]))
    assert abs(float(lik(h).log_prob(x)) - expected) < 1e-4


def test_gradient(gradcheck, gen):
    lik = build_likelihood("poisson", (4,))
    x = torch.poisson(torch.full((3, 4), 2.0), generator=gen)
    assert gradcheck(lik, x, torch.randn(3, 4, generator=gen, dtype=torch.float64))


def test_recovers_the_rate(mle, gen):
    rates = torch.tensor([0.3, 4.0, 25.0])
    x = torch.poisson(rates.expand(20000, 3), generator=gen)
    fit = mle(build_likelihood("poisson", (3,)), x)
    # the MLE's standard error of log rate is 1/sqrt(N rate): 0.013 for rate 0.3 at N = 20000
    fit.within("h", rates.double().log())
    assert bool((fit.stderr["h"] < 0.02).all())


def test_mean_sample_and_mode_respect_the_support(gen):
    px = build_likelihood("poisson", (3,))(torch.tensor([[0.0, 1.0, 2.5]]))
    s = px.sample((500,))
    assert bool((s >= 0).all()) and torch.equal(s, s.round())
    torch.testing.assert_close(px.mean, torch.tensor([[1.0, math.e, math.exp(2.5)]]))
    torch.testing.assert_close(px.base_dist.mode, px.mean.floor())


def test_refuses_negative_or_fractional_data():
    lik = build_likelihood("poisson", (2,))
    lik.check_data(torch.tensor([[0.0, 3.0], [float("nan"), 1.0]]))  # NaN = missing passes
    try:
        lik.check_data(torch.tensor([[0.0, 3.0], [-0.5, 1.0]]))
    except DataError as e:
        assert "-0.5" in str(e) and "row 1" in str(e) and "non-negative integer" in str(e)
    else:
        raise AssertionError("negative counts were accepted")


def test_trains_through_the_config(one_step, gen):
    one_step("poisson", torch.poisson(torch.full((16, 5), 3.0), generator=gen))
