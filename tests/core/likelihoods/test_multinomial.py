import math

import numpy as np
import pytest
import torch

from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.multinomial import MultinomialOptions
from vaekit.errors import DataError


def compositions(n: int, d: int) -> torch.Tensor:
    """Every count vector of length d summing to n, (M, d)."""
    if d == 1:
        return torch.tensor([[float(n)]])
    return torch.cat(
        [
            torch.cat([torch.full((len(rest), 1), float(k)), rest], 1)
            for k in range(n + 1)
            for rest in [compositions(n - k, d - 1)]
        ]
    )


def test_probabilities_of_every_bag_of_n_sum_to_one(gen):
    lik = build_likelihood("multinomial", (4,)).double()
    px = lik(torch.randn(4, generator=gen, dtype=torch.float64))
    for n in (1, 3, 6):
        bags = compositions(n, 4).double()
        assert len(bags) == math.comb(n + 3, 3)
        assert abs(float(px.log_prob(bags).exp().sum()) - 1.0) < 1e-12


def test_without_the_coefficient_it_is_mult_vae_unnormalised_loss(gen):
    h = torch.randn(3, 5, generator=gen)
    x = torch.tensor([[0.0, 2, 1, 0, 4], [1, 1, 1, 1, 1], [0, 0, 0, 0, 3]])
    full = build_likelihood("multinomial", (5,))(h).log_prob(x)
    bare = build_likelihood("multinomial", (5,), MultinomialOptions(coefficient=False))(h).log_prob(x)
    torch.testing.assert_close(bare, (torch.log_softmax(h, -1) * x).sum(-1))  # Liang et al. 2018, eq. 2
    coefficient = torch.lgamma(x.sum(-1) + 1) - torch.lgamma(x + 1).sum(-1)
    torch.testing.assert_close(full - bare, coefficient)


def test_image_shaped_bags_flatten_over_the_elements(gen):
    lik = build_likelihood("multinomial", (1, 2, 2))
    h = torch.randn(2, 1, 2, 2, generator=gen)
    x = torch.tensor([[[[1.0, 0.0], [2.0, 0.0]]], [[[0.0, 0.0], [0.0, 1.0]]]])
    flat = build_likelihood("multinomial", (4,))(h.reshape(2, 4)).log_prob(x.reshape(2, 4))
    torch.testing.assert_close(lik(h).log_prob(x), flat)


def test_gradient(gradcheck, gen):
    lik = build_likelihood("multinomial", (4,))
    x = torch.tensor([[0.0, 2.0, 1.0, 3.0], [5.0, 0.0, 0.0, 1.0]])
    assert gradcheck(lik, x, torch.randn(2, 4, generator=gen, dtype=torch.float64))


def test_recovers_the_item_probabilities(mle):
    p = np.array([0.5, 0.25, 0.15, 0.1])
    rng = np.random.default_rng(0)
    totals = rng.integers(1, 20, size=3000)  # each bag its own size: the total is given, not modelled
    x = torch.tensor(np.stack([rng.multinomial(t, p) for t in totals]), dtype=torch.float32)
    fit = mle(build_likelihood("multinomial", (4,)), x, information=False)
    probs = torch.softmax(fit.values["h"], 0)
    se = torch.tensor(np.sqrt(p * (1 - p) / totals.sum()))  # the MLE is the pooled item frequency
    assert bool(((probs - torch.tensor(p)).abs() < 4 * se).all()), probs


def test_mean_and_samples_use_total_count():
    torch.manual_seed(0)
    h = torch.log(torch.tensor([[0.7, 0.2, 0.1]]))
    px = build_likelihood("multinomial", (3,), MultinomialOptions(total_count=10))(h)
    torch.testing.assert_close(px.mean, torch.tensor([[7.0, 2.0, 1.0]]))
    s = px.sample((50,))
    assert s.shape == (50, 1, 3) and bool((s.sum(-1) == 10).all())
    assert torch.equal(s, s.round()) and bool((s >= 0).all())


def test_bags_have_no_missing_entries():
    lik = build_likelihood("multinomial", (3,))
    with pytest.raises(DataError, match="write 0"):
        lik.check_data(torch.tensor([[1.0, float("nan"), 2.0]]))
    with pytest.raises(DataError, match="non-negative integer"):
        lik.check_data(torch.tensor([[1.0, 0.5, 2.0]]))


def test_trains_through_the_config(one_step, gen):
    one_step({"kind": "multinomial", "coefficient": False}, torch.poisson(torch.full((16, 6), 2.0), generator=gen))


def test_total_count_below_one_is_refused_when_the_config_is_read():
    from vaekit.config import RunConfig
    from vaekit.errors import ConfigError

    with pytest.raises(ConfigError, match="total_count must be >= 1"):
        RunConfig.from_dict({"model": {"likelihood": {"kind": "multinomial", "total_count": 0}}})
