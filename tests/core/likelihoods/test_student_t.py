import math

import numpy as np
import pytest
import torch

from vaekit.config import RunConfig
from vaekit.core.likelihoods import build_likelihood
from vaekit.core.likelihoods.student_t import StudentTOptions
from vaekit.errors import ConfigError

integrate = pytest.importorskip("scipy.integrate")


@pytest.mark.parametrize("df", [1.5, 4.0, 40.0])
def test_density_integrates_to_one(df):
    lik = build_likelihood("student-t", (1,), StudentTOptions(df=df)).double()
    px = lik(torch.tensor([0.4, math.log(2.0)], dtype=torch.float64))
    total, _ = integrate.quad(
        lambda v: float(px.log_prob(torch.tensor([v], dtype=torch.float64)).exp()), -np.inf, np.inf, limit=400
    )
    assert abs(total - 1.0) < 1e-7


def test_fixed_df_is_exact_and_learned_df_is_a_parameter():
    fixed = build_likelihood("student-t", (2,), StudentTOptions(df=3.0))
    assert not list(fixed.parameters())
    assert float(fixed(torch.zeros(1, 4)).base_dist.df[0, 0]) == 3.0
    learned = build_likelihood("student-t", (2,))
    assert [n for n, _ in learned.named_parameters()] == ["log_df_excess"]
    torch.testing.assert_close(learned(torch.zeros(1, 4)).base_dist.df, torch.full((1, 2), 5.0))


@pytest.mark.parametrize("df", [None, 4.0])
def test_gradient(gradcheck, gen, df):
    lik = build_likelihood("student-t", (3,), StudentTOptions(df=df))
    x = torch.tensor([[0.2, -9.0, 1.5], [3.0, 0.0, -0.5]])
    assert gradcheck(lik, x, torch.randn(2, 6, generator=gen, dtype=torch.float64))


def test_recovers_location_scale_and_degrees_of_freedom(mle):
    loc, scale, df = np.array([1.0, -2.0]), np.array([0.5, 3.0]), np.array([3.0, 8.0])
    x = loc + scale * np.random.default_rng(0).standard_t(df, size=(20000, 2))
    fit = mle(build_likelihood("student-t", (2,)), torch.tensor(x, dtype=torch.float32))
    fit.within("h", torch.tensor(np.concatenate([loc, np.log(scale)])))
    fit.within("log_df_excess", torch.tensor(np.log(df - 1)))
    # df is the hard one: at N = 20000 its log-excess is known to about +-0.04 (df 3) and +-0.12 (df 8)
    assert bool((fit.stderr["log_df_excess"] < 0.2).all())


def test_mean_and_heavy_tailed_samples():
    torch.manual_seed(0)
    px = build_likelihood("student-t", (1,), StudentTOptions(df=3.0))(torch.tensor([[2.0, 0.0]]))
    torch.testing.assert_close(px.mean, torch.tensor([[2.0]]))
    s = px.sample((40000,))
    kurt_tail = float(((s - 2.0).abs() > 5).float().mean())  # P(|t_3| > 5) = 0.0154; a unit Gaussian: 6e-7
    assert 0.012 < kurt_tail < 0.019


def test_bad_df_is_refused_when_the_config_is_read():
    with pytest.raises(ConfigError, match="greater than 1"):
        StudentTOptions(df=1.0)
    with pytest.raises(ConfigError, match="greater than 1"):
        RunConfig.from_dict({"model": {"likelihood": {"kind": "student-t", "df": float("nan")}}})


def test_trains_through_the_config(one_step, gen):
    one_step("student-t", torch.randn(16, 5, generator=gen))
    one_step({"kind": "student-t", "df": 5.0}, torch.randn(16, 5, generator=gen))
