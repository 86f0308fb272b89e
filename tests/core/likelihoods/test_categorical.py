import itertools

import numpy as np
import pytest
import torch

from vaekit.config import RunConfig
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.categorical import CategoricalOptions
from vaekit.errors import ConfigError, DataError

K = 3


def test_joint_probabilities_sum_to_one_over_every_table_row(gen):
    lik = build_likelihood("categorical", (2,), CategoricalOptions(classes=K)).double()
    px = lik(torch.randn(lik.decoder_shape(), generator=gen, dtype=torch.float64))
    rows = torch.tensor(list(itertools.product(range(K), repeat=2)), dtype=torch.float64)  # all K^2 rows
    assert abs(float(px.log_prob(rows).exp().sum()) - 1.0) < 1e-12


def test_logit_layout_is_parameter_major_like_every_family(gen):
    # decoder output (K*D,): the logit of class k for element d sits at k*D + d
    lik = build_likelihood("categorical", (4,), CategoricalOptions(classes=K))
    h = torch.randn(5, K * 4, generator=gen)
    x = torch.randint(0, K, (5, 4), generator=gen).float()
    logp = torch.log_softmax(h.reshape(5, K, 4), dim=1)  # (B, K, D)
    expected = logp.gather(1, x.long()[:, None]).squeeze(1).sum(1)
    torch.testing.assert_close(lik(h).log_prob(x), expected)


def test_images_of_class_codes():
    lik = build_likelihood("categorical", (1, 3, 3), CategoricalOptions(classes=4))
    assert lik.decoder_shape() == (4, 3, 3)
    px = lik(torch.zeros(2, 4, 3, 3))
    assert px.batch_shape == (2,) and px.event_shape == (1, 3, 3)
    torch.testing.assert_close(px.log_prob(torch.zeros(2, 1, 3, 3)), torch.full((2,), 9 * float(np.log(0.25))))


def test_gradient(gradcheck, gen):
    lik = build_likelihood("categorical", (3,), CategoricalOptions(classes=K))
    x = torch.tensor([[0.0, 2.0, 1.0], [2.0, 2.0, 0.0]])
    assert gradcheck(lik, x, torch.randn(2, K * 3, generator=gen, dtype=torch.float64))


def test_recovers_the_class_probabilities(mle):
    p = np.array([[0.2, 0.5, 0.3], [0.05, 0.05, 0.9]])  # two columns
    rng = np.random.default_rng(0)
    n = 20000
    x = torch.tensor(np.stack([rng.choice(K, size=n, p=p[j]) for j in range(2)], 1), dtype=torch.float32)
    fit = mle(build_likelihood("categorical", (2,), CategoricalOptions(classes=K)), x, information=False)
    probs = torch.softmax(fit.values["h"].reshape(K, 2), 0).T  # (D, K); logits are free up to a shift
    se = torch.tensor(np.sqrt(p * (1 - p) / n))  # the MLE is the class frequency
    assert bool(((probs - torch.tensor(p)).abs() < 4 * se).all()), probs


def test_mean_is_the_most_probable_class_and_samples_are_codes(gen):
    lik = build_likelihood("categorical", (2,), CategoricalOptions(classes=K))
    h = torch.tensor([[0.0, 5.0, 3.0, 0.0, 1.0, 0.0]])  # element 0 -> class 1, element 1 -> class 0
    px = lik(h)
    torch.testing.assert_close(px.mean, torch.tensor([[1.0, 0.0]]))
    torch.testing.assert_close(px.mode, px.mean)
    s = px.sample((300,))
    assert s.dtype == torch.float32 and set(s.unique().tolist()) <= {0.0, 1.0, 2.0}


def test_checks_codes_and_options():
    lik = build_likelihood("categorical", (2,), CategoricalOptions(classes=K))
    lik.check_data(torch.tensor([[0.0, 2.0], [1.0, float("nan")]]))
    with pytest.raises(DataError, match="integer codes 0..2"):
        lik.check_data(torch.tensor([[0.0, 3.0]]))
    with pytest.raises(DataError, match="integer codes"):
        lik.check_data(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ConfigError, match=">= 2"):
        CategoricalOptions(classes=1)
    with pytest.raises(ConfigError, match="classes must be >= 2"):
        RunConfig.from_dict({"model": {"likelihood": {"kind": "categorical", "classes": 1}}})


def test_trains_through_the_config(one_step, gen):
    one_step({"kind": "categorical", "classes": 4}, torch.randint(0, 4, (16, 5), generator=gen).float())


def test_a_missing_cell_scores_nan_like_every_other_family():
    px = build_likelihood("categorical", (2,), CategoricalOptions(classes=K))(torch.zeros(1, 2 * K))
    per_cell = px.base_dist.log_prob(torch.tensor([[float("nan"), 1.0]]))
    assert torch.isnan(per_cell[0, 0]) and abs(float(per_cell[0, 1]) + float(np.log(K))) < 1e-6
