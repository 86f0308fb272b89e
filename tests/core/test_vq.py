"""VQ-VAE: nearest codes, EMA codebook updates, straight-through gradients, the code prior."""

import math

import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo
from vaekit.core.posteriors.vq import VectorQuantizer, VQOptions, fit_code_prior


def vq_model(**kw):
    torch.manual_seed(0)
    cfg = dict(latent_dim=8, hidden=(16,), posterior={"kind": "vq", "codes": 6, "code_dim": 4})
    cfg.update(kw)
    return build_model(ModelConfig(**cfg), (1, 4, 4))


def test_quantizer_picks_the_nearest_code_and_passes_gradients_straight_through():
    torch.manual_seed(1)
    q = VectorQuantizer(8, VQOptions(codes=5, code_dim=4)).eval()
    h = torch.randn(3, 8, requires_grad=True)
    qz = q(h)
    he = h.detach().view(3, 2, 4)
    brute = torch.cdist(he.reshape(-1, 4), q.codebook).argmin(1).view(3, 2)
    assert torch.equal(qz.codes, brute)
    torch.testing.assert_close(qz.mean, q.codebook[brute].reshape(3, 8))
    torch.testing.assert_close(qz.aux_loss, 0.25 * (he - q.codebook[brute]).pow(2).sum((1, 2)))
    (qz.rsample() * torch.arange(8.0)).sum().backward()
    torch.testing.assert_close(h.grad, torch.arange(8.0).expand(3, 8))  # identity backward


def test_ema_update_moves_codes_to_the_mean_of_their_assigned_vectors():
    torch.manual_seed(2)
    q = VectorQuantizer(4, VQOptions(codes=2, code_dim=2, decay=0.5))
    q.initialized.fill_(1.0)
    q.codebook.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    q.ema_sum.copy_(q.codebook)
    q.ema_count.fill_(1.0)
    h = torch.tensor([[1.0, 1.0, 9.0, 9.0], [3.0, 3.0, 11.0, 11.0]])  # code 0 gets (1,1),(3,3); code 1 (9,9),(11,11)
    q.train()
    q(h)
    # count: 0.5*1 + 0.5*2 = 1.5; sum: 0.5*0 + 0.5*(4,4) = (2,2) -> (1.333, 1.333) (Laplace smoothing is ~1e-5)
    torch.testing.assert_close(q.codebook[0], torch.tensor([4 / 3, 4 / 3]), atol=1e-4, rtol=0)
    torch.testing.assert_close(q.codebook[1], torch.tensor([(5 + 10) / 1.5, (5 + 10) / 1.5]), atol=1e-4, rtol=0)
    before = q.codebook.clone()
    q.eval()
    q(h)
    torch.testing.assert_close(q.codebook, before)  # evaluation never moves the codebook


def test_uniform_prior_kl_is_positions_times_log_k_and_perplexity_counts_codes():
    m = vq_model()
    x = torch.rand(16, 1, 4, 4)
    t = elbo(m, x)
    torch.testing.assert_close(t.kl, torch.tensor(2 * math.log(6)))  # 2 positions, 6 codes
    assert 1.0 <= float(t.extras["perplexity"]) <= 6.0
    qz = m.encode(x)
    freq = torch.bincount(qz.codes.flatten(), minlength=6).float() / qz.codes.numel()
    nz = freq[freq > 0]
    torch.testing.assert_close(qz.code_perplexity, torch.exp(-(nz * nz.log()).sum()))


def test_fitted_code_prior_is_the_code_frequencies_and_sampling_uses_it():
    m = vq_model()
    x = torch.rand(64, 1, 4, 4)
    m.train()
    elbo(m, x)  # the first training pass starts the codebook on encoder outputs
    fit_code_prior(m, x, batch_size=10)
    m.eval()  # in training mode every encode would move the codebook again
    codes = m.encode(x).codes  # (64, 2)
    counts = torch.stack([torch.bincount(codes[:, p], minlength=6) for p in range(2)]).double()
    expected = torch.log_softmax(torch.log(counts + 0.5), -1).float()
    torch.testing.assert_close(torch.log_softmax(m.prior.logits, -1), expected)
    z = m.prior().sample((3,))
    assert z.shape == (3, 8)
    by_hand = expected.gather(1, m.posterior.nearest(z.view(3, 2, 4)).T).sum(0)
    torch.testing.assert_close(m.prior().log_prob(z), by_hand)
    samples = m.sample_latent(500, generator=torch.Generator().manual_seed(0))
    drawn = m.posterior.nearest(samples.view(500, 2, 4))  # (500, 2)
    for p in range(2):  # codes never seen at a position are drawn rarely (prior mass 0.5 / (64 + 3))
        unseen = ~torch.isin(drawn[:, p], codes[:, p])
        assert float(unseen.float().mean()) < 0.1


def test_vq_vae_trains_and_keeps_its_codebook_in_the_state_dict():
    m = vq_model()
    assert {"posterior.codebook", "posterior.ema_count", "posterior.ema_sum", "prior.logits"} <= set(m.state_dict())
    x = (torch.rand(32, 1, 4, 4) > 0.5).float()
    m.train()
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    torch.manual_seed(3)
    first = float(elbo(m, x).loss.detach())
    for _ in range(15):
        opt.zero_grad()
        elbo(m, x).loss.backward()
        opt.step()
    assert float(elbo(m, x).loss.detach()) < first
