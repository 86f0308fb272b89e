"""VAE-GAN: feature-space reconstruction, the decoder's adversarial term, the discriminator's step."""

import torch
import torch.nn.functional as F

from vaekit.config import ModelConfig, TrainConfig
from vaekit.core import build_model
from vaekit.core.elbo import kl_terms
from vaekit.training.objectives import make_objective
from vaekit.training.objectives.vaegan import Discriminator


def setup(gan_weight=1.0):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="conv", latent_dim=3, channels=(4,)), (1, 8, 8))
    t = TrainConfig(objective={"kind": "vaegan", "disc_channels": (4, 8), "gan_weight": gan_weight}, kl_warmup_epochs=0.0)
    return model, make_objective(t, model, steps_per_epoch=10, dataset_size=100)


def test_discriminator_shapes_for_images_and_tables():
    logit, f = Discriminator((3, 16, 16), (4, 8))(torch.rand(2, 3, 16, 16))
    assert logit.shape == (2,) and f.shape == (2, 8 * 4 * 4)
    logit, f = Discriminator((5,), (7,))(torch.rand(2, 5))
    assert logit.shape == (2,) and f.shape == (2, 7)


def test_loss_is_feature_reconstruction_plus_kl_plus_weighted_adversarial_term():
    model, obj = setup(gan_weight=0.0)
    x = (torch.rand(6, 1, 8, 8) > 0.5).float()
    eps = torch.randn(6, 3)
    torch.manual_seed(1)
    t = obj(model, x, eps=eps, mask=None, condition=None, step=100)
    qz, z, px = model(x, eps)
    feat = 0.5 * (obj.disc(px.mean)[1] - obj.disc(x)[1]).pow(2).sum(-1).mean()
    kl = kl_terms(qz, model.prior(), z)[0].mean()
    torch.testing.assert_close(t.loss, feat + kl)
    torch.testing.assert_close(t.recon_nll, -px.log_prob(x).mean())
    assert "gan_loss" in t.extras and float(t.extras["gan_loss"]) > 0


def test_encoder_gets_no_adversarial_gradient_and_the_discriminator_learns():
    model, obj = setup()
    x = (torch.rand(16, 1, 8, 8) > 0.5).float()
    eps = torch.randn(16, 3)
    t = obj(model, x, eps=eps, mask=None, condition=None, step=100)
    model.zero_grad()
    t.loss.backward()
    enc_with = torch.cat([p.grad.flatten() for p in model.encoder.parameters()])
    model2, obj2 = setup(gan_weight=0.0)
    t2 = obj2(model2, x, eps=eps, mask=None, condition=None, step=100)
    model2.zero_grad()
    t2.loss.backward()
    enc_without = torch.cat([p.grad.flatten() for p in model2.encoder.parameters()])
    torch.testing.assert_close(enc_with, enc_without)  # the adversarial term reaches the decoder only
    losses = []
    for _ in range(15):
        obj(model, x, eps=eps, mask=None, condition=None, step=100)
        losses.append(float(obj.after_step(model)))
    assert losses[-1] < losses[0]
    with torch.no_grad():
        real = F.softplus(-obj.disc(x)[0]).mean()
    assert float(real) < 0.69  # it now calls real images real more often than chance
