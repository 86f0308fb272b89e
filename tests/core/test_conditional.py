"""Conditional VAE: labels (one-hot) or covariates fed to encoder and decoder."""

import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo
from vaekit.errors import ModelError


def cvae(arch="mlp", **kw):
    torch.manual_seed(0)
    return build_model(
        ModelConfig(arch=arch, latent_dim=2, hidden=(16,), channels=(4, 8), conditional=True, condition_dim=3, **kw), (1, 8, 8)
    )


@pytest.mark.parametrize("arch", ["mlp", "conv", "resnet"])
def test_labels_reach_encoder_and_decoder(arch):
    m = cvae(arch)
    x = torch.rand(4, 1, 8, 8)
    a, b = m.encode(x, torch.zeros(4, dtype=torch.long)), m.encode(x, torch.full((4,), 2))
    assert not torch.allclose(a.mean, b.mean)
    z = torch.randn(4, 2)
    assert not torch.allclose(m.decode(z, 0).mean, m.decode(z, 1).mean)
    assert m.decode(torch.randn(5, 4, 2), torch.arange(4) % 3).batch_shape == (5, 4)  # k samples per example


def test_one_hot_labels_equal_the_same_covariate_vectors():
    m = cvae()
    x = torch.rand(3, 1, 8, 8)
    y = torch.tensor([0, 2, 1])
    onehot = torch.nn.functional.one_hot(y, 3).float()
    torch.testing.assert_close(m.encode(x, y).mean, m.encode(x, onehot).mean)


def test_missing_or_unexpected_condition_is_a_clear_error():
    m = cvae()
    with pytest.raises(ModelError, match="conditional"):
        m.encode(torch.rand(2, 1, 8, 8))
    with pytest.raises(ModelError, match=r"0\.\.2"):
        m.encode(torch.rand(2, 1, 8, 8), torch.tensor([0, 3]))
    plain = build_model(ModelConfig(latent_dim=2, hidden=(8,)), (1, 8, 8))
    with pytest.raises(ModelError, match="not conditional"):
        plain.encode(torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))


def test_sample_with_a_label_and_cycling_default():
    m = cvae()
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    threes = m.sample(4, generator=g(), condition=2)
    torch.testing.assert_close(threes, m.sample(4, generator=g(), condition=torch.full((4,), 2)))
    cycled = m.sample(4, generator=g())
    torch.testing.assert_close(cycled, m.sample(4, generator=g(), condition=torch.tensor([0, 1, 2, 0])))
    assert threes.shape == (4, 1, 8, 8)


def test_conditional_elbo_trains_and_condition_dim_is_required():
    m = cvae()
    x = (torch.rand(32, 1, 8, 8) > 0.5).float()
    y = torch.arange(32) % 3
    eps = torch.randn(32, 2)
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    before = float(elbo(m, x, eps=eps, condition=y).loss.detach())
    for _ in range(10):
        opt.zero_grad()
        elbo(m, x, eps=eps, condition=y).loss.backward()
        opt.step()
    assert float(elbo(m, x, eps=eps, condition=y).loss.detach()) < before
    with pytest.raises(ModelError, match="condition_dim"):
        build_model(ModelConfig(conditional=True), (1, 8, 8))
    assert build_model(ModelConfig(conditional=True, hidden=(8,)), (1, 8, 8), condition_dim=5).condition.dim == 5
