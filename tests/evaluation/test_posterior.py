import math

import pytest
import torch
from torch import nn

from vaekit.core.likelihoods.gaussian import GaussianLikelihood
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.core.vae import VAE
from vaekit.evaluation import mutual_information, posterior_diagnostics
from vaekit.evaluation.posterior import gaussian_mutual_information


def linear_vae(weights: list[float], sigma: float, data_dim: int = 2) -> VAE:
    """q(z_d|x) = N(w_d * x_0, sigma^2): a linear encoder with known posterior statistics."""
    latent = len(weights)
    encoder = nn.Linear(data_dim, 2 * latent)
    pre = math.log(math.expm1(sigma - 1e-5))  # softplus(pre) + 1e-5 = sigma
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.bias.zero_()
        encoder.weight[:latent, 0] = torch.tensor(weights)
        encoder.bias[latent:] = pre
    return VAE(encoder, nn.Linear(latent, data_dim), GaussianLikelihood((data_dim,)), StandardNormal(latent),
               DiagonalGaussian(latent), (data_dim,), latent).eval()  # fmt: skip


def test_active_units_and_kl_per_dim_match_closed_form():
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0))
    w = [1.0, 0.2, 0.05, 0.0]  # Cov_x(E_q[z_d]) = w_d^2 Var(x_0): 1, 0.04, 0.0025, 0
    model = linear_vae(w, sigma=0.5)
    p = posterior_diagnostics(model, x, batch_size=512)
    var0 = float(x[:, 0].var())
    torch.testing.assert_close(p.activity, torch.tensor([wi**2 * var0 for wi in w], dtype=torch.float64), atol=1e-5, rtol=1e-4)
    assert p.active_units == 2 and p.latent_dim == 4 and p.threshold == 0.01
    mu = x[:, :1].double() * torch.tensor(w, dtype=torch.float64)  # (N, 4)
    kl = 0.5 * (mu**2 + 0.25 - 1 - math.log(0.25)).mean(0)  # closed-form KL(N(mu, 0.5^2) || N(0, 1)) per dim
    torch.testing.assert_close(p.kl_per_dim, kl, atol=1e-4, rtol=1e-4)


def test_mutual_information_is_zero_when_the_posterior_ignores_x():
    x = torch.randn(500, 2, generator=torch.Generator().manual_seed(1))
    model = linear_vae([0.0, 0.0], sigma=0.7)
    r = mutual_information(model, x, generator=torch.Generator().manual_seed(0))
    assert abs(r.mi) < 1e-6 and r.max == pytest.approx(math.log(500))
    assert posterior_diagnostics(model, x).active_units == 0


def test_mutual_information_linear_gaussian_closed_form():
    # x ~ N(0, 1); q(z|x) = N(a x, s^2)  =>  I(x; z) = 0.5 log(1 + a^2 / s^2) per dimension
    x = torch.randn(3000, 2, generator=torch.Generator().manual_seed(2))
    loc = x * torch.tensor([1.0, 2.0])  # (N, 2)
    scale = torch.ones_like(loc)
    expected = 0.5 * math.log(2.0) + 0.5 * math.log(5.0)
    r = gaussian_mutual_information(loc, scale, generator=torch.Generator().manual_seed(3))
    assert r.mi == pytest.approx(expected, abs=0.05)
    # through a model: one linear latent with a=1, s=0.5 -> 0.5 log 5
    model = linear_vae([1.0], sigma=0.5)
    r = mutual_information(model, x, generator=torch.Generator().manual_seed(4))
    assert r.mi == pytest.approx(0.5 * math.log(5.0), abs=0.05)


def test_mutual_information_saturates_at_log_n():
    loc = torch.arange(50, dtype=torch.float64)[:, None] * 100.0  # far-apart posteriors
    r = gaussian_mutual_information(loc, torch.ones_like(loc), generator=torch.Generator().manual_seed(0))
    assert r.mi == pytest.approx(math.log(50), abs=1e-6)
