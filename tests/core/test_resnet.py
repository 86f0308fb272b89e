"""The residual conv encoder/decoder on MNIST-, CIFAR- and CelebA-sized images."""

import pytest
import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model, elbo
from vaekit.core.resnet import ResBlock
from vaekit.errors import ModelError


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 64, 64)])
def test_resnet_round_trips_every_size(shape):
    torch.manual_seed(0)
    m = build_model(ModelConfig(arch="resnet", latent_dim=4, channels=(4, 8, 8), res_blocks=2), shape)
    x = torch.rand(2, *shape)
    qz = m.encode(x)
    assert qz.mean.shape == (2, 4)
    assert m.decode(qz.rsample()).event_shape == shape
    assert m.sample(3).shape == (3, *shape)


def test_residual_blocks_start_as_the_identity():
    block = ResBlock(4, "relu", 0.0)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x), x)


def test_resnet_step_reduces_the_loss_and_rejects_too_many_halvings():
    torch.manual_seed(1)
    m = build_model(ModelConfig(arch="resnet", latent_dim=4, channels=(8, 16), res_blocks=1), (1, 28, 28))
    x = (torch.rand(16, 1, 28, 28) > 0.5).float()
    eps = torch.randn(16, 4)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)
    before = float(elbo(m, x, eps=eps).loss.detach())
    for _ in range(5):
        opt.zero_grad()
        elbo(m, x, eps=eps).loss.backward()
        opt.step()
    assert float(elbo(m, x, eps=eps).loss.detach()) < before
    with pytest.raises(ModelError, match="at most 3"):
        build_model(ModelConfig(arch="resnet", channels=(4, 4, 4, 4)), (1, 8, 8))
