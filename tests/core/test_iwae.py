"""The IWAE objective and the DReG gradient estimator on a tiny linear-Gaussian VAE."""

import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo, log_mean_exp
from vaekit.core.iwae import iwae


def linear_gaussian_vae():
    """x (2,) | z (1,): linear encoder and decoder, fixed unit-variance Gaussian likelihood."""
    torch.manual_seed(0)
    return build_model(ModelConfig(latent_dim=1, hidden=(), likelihood="gaussian"), (2,))


def set_near_exact_posterior(m) -> None:
    """Encoder = the exact posterior of the linear-Gaussian model, then nudged off it.

    p(z) = N(0, 1), p(x|z) = N(W z + c, I)  =>  q*(z|x) = N(W^T (x - c) / (1 + W^T W), 1 / (1 + W^T W)).
    Near q* the DReG encoder gradient has far less variance than the IWAE one (Tucker et al. 2018);
    far from it both are noisy, and which is worse depends on the posterior's scale.
    """
    w, c = m.decoder.head.weight[:, 0].detach(), m.decoder.head.bias.detach()  # (2,), (2,)
    precision = 1 + (w * w).sum()
    std = precision.rsqrt()
    with torch.no_grad():
        head = m.encoder.head  # (B, 2) -> [mu, pre-scale]
        head.weight.zero_()
        head.weight[0] = w / precision
        head.bias[0] = -(w * c).sum() / precision + 0.3  # the nudge: mean 0.3 off
        head.bias[1] = torch.log(torch.expm1(std * 1.2 - 1e-5))  # scale 20% too wide


def grads(model, loss):
    model.zero_grad()
    loss.backward()
    enc = torch.cat([p.grad.flatten() for p in model.encoder.parameters()])
    dec = torch.cat([p.grad.flatten() for p in model.decoder.parameters()])
    return enc, dec


def test_iwae_bound_is_the_log_mean_exp_of_the_weights():
    m = linear_gaussian_vae()
    x = torch.randn(4, 2)
    eps = torch.randn(6, 4, 1)
    t = iwae(m, x, 6, eps=eps)
    qz, z, px = m(x, eps)
    log_w = px.log_prob(x) + m.prior().log_prob(z) - qz.log_prob(z)  # (6, 4)
    torch.testing.assert_close(t.extras["iwae"], log_mean_exp(log_w, 0).mean())
    torch.testing.assert_close(t.loss, -t.extras["iwae"])
    torch.testing.assert_close(t.elbo, log_w.mean())
    assert t.extras["iwae"] >= t.elbo  # Jensen


def test_k1_iwae_is_the_single_sample_elbo():
    m = linear_gaussian_vae()
    x = torch.randn(5, 2)
    eps = torch.randn(5, 1)
    a = iwae(m, x, 1, eps=eps[None])
    qz, z, px = m(x, eps)
    mc = (px.log_prob(x) + m.prior().log_prob(z) - qz.log_prob(z)).mean()
    torch.testing.assert_close(a.extras["iwae"], mc)
    torch.testing.assert_close(a.recon_nll, elbo(m, x, eps=eps).recon_nll)


def test_dreg_keeps_the_decoder_gradient_and_matches_the_encoder_gradient_with_less_variance():
    m = linear_gaussian_vae()
    set_near_exact_posterior(m)
    x = torch.tensor([[1.0, -0.5], [0.3, 2.0], [-1.5, 0.2]])
    k, reps = 5, 200
    # brute-force reference: the IWAE gradient averaged over 20,000 independent draws in one batch
    big = x.repeat(20_000, 1)  # (60000, 2)
    gen = torch.Generator().manual_seed(1)
    ref_enc, ref_dec = grads(m, iwae(m, big, k, eps=torch.randn(k, big.shape[0], 1, generator=gen)).loss * 1.0)
    per = {"iwae": [], "dreg": []}
    for _ in range(reps):
        eps = torch.randn(k, 3, 1, generator=gen)
        for est in per:
            enc, dec = grads(m, iwae(m, x, k, estimator=est, eps=eps).loss)
            per[est].append((enc, dec))
        torch.testing.assert_close(per["iwae"][-1][1], per["dreg"][-1][1])  # decoder: the same gradient exactly
    enc = {est: torch.stack([e for e, _ in v]) for est, v in per.items()}  # (reps, P)
    for est in per:
        mean, se = enc[est].mean(0), enc[est].std(0) / reps**0.5
        assert ((mean - ref_enc).abs() <= 4 * se + 1e-3).all(), (est, mean, ref_enc, se)
    assert enc["dreg"].var(0).sum() < 0.8 * enc["iwae"].var(0).sum()


def test_iwae_warmup_weight_scales_the_log_ratio():
    m = linear_gaussian_vae()
    x = torch.randn(3, 2)
    eps = torch.randn(4, 3, 1)
    qz, z, px = m(x, eps)
    log_px, log_ratio = px.log_prob(x), m.prior().log_prob(z) - qz.log_prob(z)
    t = iwae(m, x, 4, eps=eps, kl_weight=0.3)
    torch.testing.assert_close(t.loss, -log_mean_exp(log_px + 0.3 * log_ratio, 0).mean())
    torch.testing.assert_close(t.extras["iwae"], log_mean_exp(log_px + 0.3 * log_ratio, 0).mean())
