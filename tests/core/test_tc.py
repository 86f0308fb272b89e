"""beta-TC decomposition: the three terms sum to the KL estimate; MWS against brute force."""

import math

import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model
from vaekit.core.tc import btcvae, log_density_matrix, mws_log_densities


def test_mws_matches_the_brute_force_aggregate_posterior_up_to_its_constant():
    """With the whole (tiny) dataset as the batch, q(z) = 1/N sum_j q(z|x_j) exactly; MWS divides
    by N*M instead of N, so it is that minus log M (and log M per dimension for the marginals)."""
    torch.manual_seed(0)
    n, d = 7, 3
    loc, scale, z = torch.randn(n, d), torch.rand(n, d) + 0.3, torch.randn(n, d)
    log_qz, log_prod = mws_log_densities(z, loc, scale, dataset_size=n)
    q_cond = torch.exp(log_density_matrix(z, loc, scale))  # (n, n, d): q(z_i,d | x_j)
    true_qz = q_cond.prod(-1).mean(1).log()  # (n,)
    true_prod = q_cond.mean(1).log().sum(-1)  # (n,)
    torch.testing.assert_close(log_qz, true_qz - math.log(n), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log_prod, true_prod - d * math.log(n), rtol=1e-5, atol=1e-5)


def test_terms_sum_to_the_single_sample_kl_and_beta_weights_only_tc():
    torch.manual_seed(1)
    m = build_model(ModelConfig(latent_dim=3, hidden=(16,)), (1, 4, 4))
    x = torch.rand(20, 1, 4, 4)
    eps = torch.randn(20, 3)
    t1 = btcvae(m, x, 1000, beta=1.0, eps=eps)
    t6 = btcvae(m, x, 1000, beta=6.0, eps=eps)
    qz, z, px = m(x, eps)
    mc_kl = (qz.log_prob(z) - m.prior().log_prob(z)).mean()
    torch.testing.assert_close(t1.extras["mi"] + t1.extras["tc"] + t1.extras["dwkl"], mc_kl, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(t1.loss, t1.recon_nll + mc_kl, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(t6.loss - t1.loss, 5.0 * t1.extras["tc"], rtol=1e-4, atol=1e-4)


def test_btcvae_step_reduces_the_loss():
    torch.manual_seed(2)
    m = build_model(ModelConfig(latent_dim=3, hidden=(16,)), (1, 4, 4))
    x = (torch.rand(32, 1, 4, 4) > 0.5).float()
    eps = torch.randn(32, 3)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = float(btcvae(m, x, 500, beta=4.0, eps=eps).loss.detach())
    for _ in range(10):
        opt.zero_grad()
        btcvae(m, x, 500, beta=4.0, eps=eps).loss.backward()
        opt.step()
    assert float(btcvae(m, x, 500, beta=4.0, eps=eps).loss.detach()) < before
