"""Stacked stochastic layers: densities as products of Gaussians, normalisation, and a deeper ladder."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo
from vaekit.core.iwae import iwae
from vaekit.core.posteriors import stop_gradient


def ladder(dims=(3, 2), shape=(1, 4, 4)):
    torch.manual_seed(0)
    return build_model(ModelConfig(latent_dims=dims, latent_hidden=(8,), hidden=(16,)), shape)


def test_posterior_and_prior_densities_are_products_of_their_gaussian_links():
    m = ladder()
    x = torch.rand(5, 1, 4, 4)
    qz = m.encode(x)
    z = qz.rsample((2,))  # (2, 5, 5)
    z1, z2 = z[..., :3], z[..., 3:]
    mu1, s1 = qz.first
    mu2, s2 = m.posterior.layers[0](z1)
    by_hand = Independent(Normal(mu1, s1), 1).log_prob(z1) + Independent(Normal(mu2, s2), 1).log_prob(z2)
    torch.testing.assert_close(qz.log_prob(z), by_hand)
    pm1, ps1 = m.prior.layers[0](z2)
    prior_by_hand = Independent(Normal(torch.zeros(2), torch.ones(2)), 1).log_prob(z2) + Independent(
        Normal(pm1, ps1), 1
    ).log_prob(z1)
    torch.testing.assert_close(m.prior().log_prob(z), prior_by_hand)


def test_two_one_dimensional_layers_integrate_to_one():
    m = ladder(dims=(1, 1))
    g = torch.linspace(-9, 9, 361)
    grid = torch.stack(torch.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 1, 2)  # (N, 1, 2)
    with torch.no_grad():
        q = m.encode(torch.rand(1, 1, 4, 4)).log_prob(grid).exp()
        p = m.prior().log_prob(grid.squeeze(1)).exp()
    cell = float(g[1] - g[0]) ** 2
    assert abs(float(q.sum()) * cell - 1) < 0.01
    assert abs(float(p.sum()) * cell - 1) < 0.01


def test_decoder_reads_z1_only():
    m = ladder()
    z = torch.randn(4, 5)
    other = z.clone()
    other[:, 3:] = torch.randn(4, 2)
    torch.testing.assert_close(m.decode(z).mean, m.decode(other).mean)


def test_iwae_bound_of_a_hierarchy_is_tighter_than_its_elbo_and_dreg_runs():
    m = ladder()
    x = (torch.rand(6, 1, 4, 4) > 0.5).float()
    with torch.no_grad():
        t = iwae(m, x, 200)
    assert t.extras["iwae"] > t.elbo
    eps = torch.randn(3, 6, 5)
    loss = iwae(m, x, 3, estimator="dreg", eps=eps).loss
    loss.backward()
    assert all(p.grad is not None for p in m.posterior.parameters())
    frozen = stop_gradient(m.encode(x))
    assert frozen.frozen


@pytest.mark.parametrize("dims", [(4, 2), (5, 3, 2)])
def test_a_deeper_ladder_is_the_same_code_and_trains(dims):
    m = ladder(dims)
    assert m.latent_dim == sum(dims) and len(m.posterior.layers) == len(dims) - 1
    x = (torch.rand(32, 1, 4, 4) > 0.5).float()
    eps = torch.randn(32, sum(dims))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = float(elbo(m, x, eps=eps).loss.detach())
    for _ in range(10):
        opt.zero_grad()
        elbo(m, x, eps=eps).loss.backward()
        opt.step()
    assert float(elbo(m, x, eps=eps).loss.detach()) < before
    assert m.sample(3, temperature=0.5, generator=torch.Generator().manual_seed(0)).shape == (3, 1, 4, 4)
    stats = m.encode(x[:2])
    assert stats.mean.shape == (2, sum(dims)) and torch.isfinite(stats.stddev).all()


def test_prior_sample_temperature_zero_is_the_mean_path():
    m = ladder()
    z = m.sample_latent(2, temperature=0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(z, m.prior().mean.expand(2, -1))
    assert not math.isnan(float(z.sum()))
