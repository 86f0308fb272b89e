"""Full-covariance posterior: closed-form KL, reparameterisation and densities."""

import torch
from torch.distributions import MultivariateNormal

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo
from vaekit.core.elbo import kl_terms
from vaekit.core.posteriors import FullCovGaussian, reparameterize, stop_gradient
from vaekit.core.priors import StandardNormal


def test_full_covariance_kl_matches_the_closed_form_and_monte_carlo():
    torch.manual_seed(0)
    d = 3
    post, prior = FullCovGaussian(d), StandardNormal(d)
    qz = post(torch.randn(4, post.params_out))
    cov = qz.covariance_matrix  # (4, 3, 3)
    mu = qz.mean
    by_hand = 0.5 * (torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) + (mu * mu).sum(-1) - d - torch.logdet(cov))
    kl, per_dim = kl_terms(qz, prior(), qz.rsample())
    assert per_dim is None
    torch.testing.assert_close(kl, by_hand, rtol=1e-4, atol=1e-5)
    z = qz.sample((200_000,))
    mc = (qz.log_prob(z) - prior().log_prob(z)).mean(0)
    torch.testing.assert_close(mc, by_hand, atol=0.03, rtol=0.02)


def test_cholesky_factor_is_lower_triangular_with_a_positive_diagonal_and_correlates():
    torch.manual_seed(1)
    post = FullCovGaussian(4)
    qz = post(torch.randn(2, post.params_out))
    tril = qz.scale_tril
    assert torch.count_nonzero(torch.triu(tril, diagonal=1)) == 0
    assert (torch.diagonal(tril, dim1=-2, dim2=-1) > 0).all()
    assert torch.count_nonzero(torch.tril(tril, diagonal=-1)) == 2 * 6  # off-diagonal entries are used


def test_reparameterize_with_fixed_noise_is_loc_plus_l_eps():
    torch.manual_seed(2)
    post = FullCovGaussian(3)
    qz = post(torch.randn(5, post.params_out))
    eps = torch.randn(7, 5, 3)
    z = reparameterize(qz, eps)  # (7, 5, 3)
    torch.testing.assert_close(z, qz.loc + torch.einsum("bij,sbj->sbi", qz.scale_tril, eps))
    ref = MultivariateNormal(qz.loc, scale_tril=qz.scale_tril)
    torch.testing.assert_close(qz.log_prob(z), ref.log_prob(z))
    frozen = stop_gradient(qz)
    assert not frozen.loc.requires_grad or frozen.loc.grad_fn is None


def test_full_covariance_vae_trains():
    torch.manual_seed(3)
    m = build_model(ModelConfig(latent_dim=3, hidden=(16,), posterior="full"), (1, 4, 4))
    x = (torch.rand(32, 1, 4, 4) > 0.5).float()
    eps = torch.randn(32, 3)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = float(elbo(m, x, eps=eps).loss.detach())
    for _ in range(10):
        opt.zero_grad()
        elbo(m, x, eps=eps).loss.backward()
        opt.step()
    assert float(elbo(m, x, eps=eps).loss.detach()) < before
    assert m.encode(x[:2]).stddev.shape == (2, 3)
