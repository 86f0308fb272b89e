import math

import pytest
import torch
import torch.nn.functional as F

from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.dlogistic import DiscretizedLogistic
from vaekit.core.likelihoods.gaussian import GaussianOptions
from vaekit.core.likelihoods.laplace import LaplaceOptions
from vaekit.registry import NoOptions

torch.manual_seed(0)


def test_bernoulli_log_prob_is_negative_bce_summed_per_example():
    lik = build_likelihood("bernoulli", (1, 4, 4))
    h = torch.randn(3, 1, 4, 4)
    x = torch.rand(3, 1, 4, 4)
    expected = -F.binary_cross_entropy_with_logits(h, x, reduction="none").sum((1, 2, 3))
    torch.testing.assert_close(lik(h).log_prob(x), expected)


def test_gaussian_fixed_scale_closed_form():
    lik = build_likelihood("gaussian", (5,), GaussianOptions(scale=0.5))
    h, x = torch.randn(4, 5), torch.randn(4, 5)
    expected = (-0.5 * ((x - h) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)).sum(1)
    torch.testing.assert_close(lik(h).log_prob(x), expected)


def test_gaussian_learned_scale_is_a_parameter_that_gets_gradients():
    lik = build_likelihood("gaussian-learned", (3,))
    assert any(p.requires_grad for p in lik.parameters())
    lik(torch.zeros(2, 3)).log_prob(torch.full((2, 3), 2.0)).sum().backward()
    assert lik.log_scale.grad is not None and lik.log_scale.grad.abs().sum() > 0


def test_laplace_closed_form():
    lik = build_likelihood("laplace", (6,), LaplaceOptions(scale=2.0))
    h, x = torch.randn(2, 6), torch.randn(2, 6)
    expected = (-(x - h).abs() / 2.0 - math.log(2 * 2.0)).sum(1)
    torch.testing.assert_close(lik(h).log_prob(x), expected)


@pytest.mark.parametrize("loc,log_scale", [(0.3, -3.0), (0.0, -5.0), (1.0, -2.0), (0.5, 0.5), (0.7, -8.0)])
def test_discretized_logistic_sums_to_one_over_the_bins(loc, log_scale):
    d = DiscretizedLogistic(torch.tensor(loc), torch.tensor(log_scale), bins=256)
    grid = torch.arange(256, dtype=torch.float32) / 255
    total = torch.exp(torch.stack([d.log_prob(v) for v in grid])).sum()
    assert abs(float(total) - 1.0) < 2e-3


def test_discretized_logistic_mid_bin_matches_cdf_difference():
    loc, s = 0.4, 0.05
    d = DiscretizedLogistic(torch.tensor(loc), torch.tensor(math.log(s)))
    v = 100 / 255

    def cdf(t):
        return 1 / (1 + math.exp(-(t - loc) / s))

    expected = math.log(cdf(v + 0.5 / 255) - cdf(v - 0.5 / 255))
    assert abs(float(d.log_prob(torch.tensor(v))) - expected) < 1e-4


def test_discretized_logistic_likelihood_shapes_and_samples_on_grid():
    lik = build_likelihood("dlogistic", (3, 4, 4))
    px = lik(torch.randn(2, 6, 4, 4))
    assert px.batch_shape == (2,) and px.event_shape == (3, 4, 4)
    s = px.sample()
    torch.testing.assert_close(s * 255, torch.round(s * 255))


def test_discretized_logistic_free_location_can_put_almost_all_mass_on_black():
    """A black background pixel: an unbounded location can give it probability near one; a location
    squashed into [0, 1] cannot pass sigmoid(half a bin / smallest scale) = 0.897."""
    from vaekit.core.likelihoods.dlogistic import DiscretizedLogisticOptions

    x = torch.zeros(1, 4)
    h = torch.cat([torch.full((1, 4), -20.0), torch.full((1, 4), -7.0)], 1)  # location, log-scale
    free = build_likelihood("dlogistic", (4,))(h).log_prob(x).exp() ** 0.25
    squashed = build_likelihood("dlogistic", (4,), DiscretizedLogisticOptions(location="sigmoid"))(h).log_prob(x).exp() ** 0.25
    assert float(free) > 0.999
    assert abs(float(squashed) - 1 / (1 + math.exp(-(0.5 / 255) / math.exp(-7.0)))) < 1e-4


def test_discretized_logistic_location_default_is_free_for_new_configs_and_sigmoid_for_saved_runs():
    from vaekit.config import RunConfig

    raw = {"model": {"likelihood": "dlogistic"}}
    assert RunConfig.from_dict(raw).model.likelihood.options.location == "free"
    assert RunConfig.from_dict(raw, saved=True).model.likelihood.options.location == "sigmoid"
    saved_new = {"model": {"likelihood": {"kind": "dlogistic", "bins": 256, "location": "free"}}}
    assert RunConfig.from_dict(saved_new, saved=True).model.likelihood.options.location == "free"


def test_unknown_likelihood_is_a_clear_error():
    from vaekit.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown likelihood"):
        build_likelihood("poisson-typo", (3,))


def test_bernoulli_log_prob_matches_torch_with_and_without_sample_dims():
    from torch.distributions import Bernoulli, Independent

    from vaekit.core.likelihoods.bernoulli import BernoulliLikelihood

    x = torch.bernoulli(torch.rand(5, 1, 6, 7))
    x[0] = torch.rand(1, 6, 7)  # [0, 1] intensities as well as binary pixels
    for lead in [(5,), (3, 5)]:  # one draw per image, or k=3 draws of the same images
        logits = torch.randn(*lead, 1, 6, 7, requires_grad=True)
        ours = BernoulliLikelihood((1, 6, 7), NoOptions())(logits).log_prob(x)
        ref = Independent(Bernoulli(logits=logits, validate_args=False), 3).log_prob(x)
        assert ours.shape == lead
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=1e-6)
        (g_ours,) = torch.autograd.grad(ours.sum(), logits)
        (g_ref,) = torch.autograd.grad(ref.sum(), logits)
        torch.testing.assert_close(g_ours, g_ref, atol=1e-6, rtol=1e-5)
