import math

import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo, iwae_log_weights, log_mean_exp
from vaekit.core.elbo import kl_terms, mean_elbo
from vaekit.core.posteriors import DiagonalGaussian
from vaekit.core.priors import StandardNormal
from vaekit.errors import ModelError


def tiny(arch="mlp", shape=(1, 8, 8), **kw):
    torch.manual_seed(0)
    cfg = ModelConfig(arch=arch, latent_dim=3, hidden=(16,), channels=(4, 8), **kw)
    return build_model(cfg, shape)


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 7, 9), (3, 64, 48), (1, 8, 8)])
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_any_image_size_round_trips_through_encoder_and_decoder(arch, shape):
    m = tiny(arch, shape)
    x = torch.rand(2, *shape)
    qz = m.encode(x)
    assert qz.batch_shape == (2,) and qz.event_shape == (3,)
    px = m.decode(qz.rsample())
    assert px.batch_shape == (2,) and px.event_shape == shape
    assert m.sample(5).shape == (5, *shape)


def test_decode_keeps_leading_sample_dims():
    m = tiny()
    px = m.decode(torch.randn(4, 2, 3))
    assert px.batch_shape == (4, 2)


def test_conv_rejects_more_halvings_than_the_image_allows():
    with pytest.raises(ModelError, match="at most 3"):
        build_model(ModelConfig(arch="conv", channels=(4, 4, 4, 4)), (1, 8, 8))


def test_conv_rejects_tabular_data():
    with pytest.raises(ModelError, match="tabular"):
        build_model(ModelConfig(arch="conv"), (10,))


def test_diagonal_gaussian_kl_matches_closed_form_and_monte_carlo():
    torch.manual_seed(1)
    post, prior = DiagonalGaussian(4), StandardNormal(4)
    qz = post(torch.randn(3, 8))
    mu, s = qz.base_dist.loc, qz.base_dist.scale
    closed = 0.5 * (mu**2 + s**2 - 1 - torch.log(s**2)).sum(-1)
    kl, per_dim = kl_terms(qz, prior(), qz.rsample())
    torch.testing.assert_close(kl, closed)
    assert per_dim.shape == (3, 4)
    z = qz.sample((200_000,))
    mc = (qz.log_prob(z) - prior().log_prob(z)).mean(0)
    torch.testing.assert_close(mc, closed, atol=0.03, rtol=0.02)


def test_elbo_terms_are_consistent_and_free_bits_changes_only_the_loss():
    m = tiny()
    x = torch.rand(16, 1, 8, 8)
    torch.manual_seed(3)
    a = elbo(m, x)
    torch.manual_seed(3)
    b = elbo(m, x, free_bits=5.0)
    torch.testing.assert_close(a.elbo, -(a.recon_nll + a.kl))
    torch.testing.assert_close(a.loss, a.recon_nll + a.kl)
    torch.testing.assert_close(a.elbo, b.elbo)
    expected = b.recon_nll + b.kl_per_dim.clamp(min=5.0).sum()
    torch.testing.assert_close(b.loss, expected)
    assert b.loss > a.loss  # KL per dim of a fresh model is far below 5 nats


def test_beta_weights_the_kl():
    m = tiny()
    x = torch.rand(8, 1, 8, 8)
    torch.manual_seed(4)
    t = elbo(m, x, kl_weight=4.0)
    torch.testing.assert_close(t.loss, t.recon_nll + 4.0 * t.kl)


def test_one_step_reduces_the_loss_on_a_fixed_batch():
    m = tiny("conv")
    x = (torch.rand(32, 1, 8, 8) > 0.5).float()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    torch.manual_seed(0)
    before = elbo(m, x).loss
    for _ in range(5):
        opt.zero_grad()
        torch.manual_seed(0)
        elbo(m, x).loss.backward()
        opt.step()
    torch.manual_seed(0)
    assert elbo(m, x).loss < before


def test_iwae_bound_is_above_the_mean_log_weight_which_is_the_elbo():
    m = tiny()
    x = torch.rand(4, 1, 8, 8)
    with torch.no_grad():
        torch.manual_seed(0)
        lw = iwae_log_weights(m, x, 4000)  # (k, B)
        elbo_mc = lw.mean(0)
        iw = log_mean_exp(lw, 0)
        ref = mean_elbo(m, x.repeat(500, 1, 1, 1), batch_size=4000)
    assert (iw >= elbo_mc).all()
    assert abs(float(elbo_mc.mean()) - ref.elbo) < 0.5


def test_sample_temperature_zero_is_the_decoded_prior_mean():
    m = tiny()
    a = m.sample(3, temperature=1e-9, generator=torch.Generator().manual_seed(1))
    b = m.sample(3, temperature=1e-9, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(a, b)
    expected = m.decode(torch.zeros(1, 3)).mean.expand(3, -1, -1, -1)
    torch.testing.assert_close(a, expected)


def test_mean_elbo_matches_batched_average():
    m = tiny()
    x = torch.rand(10, 1, 8, 8)
    torch.manual_seed(5)
    r = mean_elbo(m, x, batch_size=3)
    assert r.n == 10 and math.isfinite(r.elbo)
    assert abs(r.elbo + r.recon_nll + r.kl) < 1e-6


def test_posterior_stats_and_decode_mean_match_unbatched():
    from vaekit.core.inference import decode_mean, posterior_stats

    m = tiny().eval()
    x = torch.rand(7, 1, 8, 8)
    s = posterior_stats(m, x, batch_size=3)
    qz = m.encode(x)
    torch.testing.assert_close(s.mean, qz.mean)
    torch.testing.assert_close(s.stddev, qz.stddev)
    torch.testing.assert_close(decode_mean(m, s.mean, batch_size=2), m.decode(qz.mean).mean)


def test_masked_elbo_ignores_missing_entries():
    from vaekit.core.elbo import split_missing

    m = build_model(ModelConfig(latent_dim=2, hidden=(8,), likelihood="gaussian"), (4,))
    x = torch.randn(6, 4)
    x_nan = x.clone()
    x_nan[:, 3] = float("nan")
    filled, mask = split_missing(x_nan)
    eps = torch.randn(6, 2)
    masked = elbo(m, filled, eps=eps, mask=mask)
    # the same as scoring only the first three columns by hand
    qz, z, px = m(filled, eps)
    by_hand = -px.base_dist.log_prob(filled)[:, :3].sum(-1).mean()
    torch.testing.assert_close(masked.recon_nll, by_hand)
    assert split_missing(x)[1] is None
