"""VAE-GAN (Larsen et al. 2016): a discriminator trained beside the VAE by a second optimizer.

The VAE's reconstruction term is measured in the discriminator's feature space: a Gaussian on the
last hidden layer, -log p = 1/2 ||Dis_l(x_rec) - Dis_l(x)||^2 (+ const), instead of pixel by pixel.
The decoder also learns to fool the discriminator (non-saturating loss) on reconstructions and on
prior samples; as in the paper the encoder gets no adversarial gradient (its z is detached there).
After the VAE's step, the discriminator takes one step on real x against those fakes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vaekit.config import TrainConfig
from vaekit.config_checks import integer, number
from vaekit.core.elbo import ELBOTerms, kl_terms, observed_log_prob
from vaekit.core.networks import check_halvings
from vaekit.core.posteriors import reparameterize
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError
from vaekit.registry import OBJECTIVES
from vaekit.training.objectives import ObjectiveContext, TrainObjective


@dataclass(frozen=True)
class VAEGANOptions:
    gan_weight: float = 1.0  # weight of the decoder's adversarial loss
    disc_channels: tuple[int, ...] = (32, 64)  # discriminator widths (conv for images, MLP otherwise)
    disc_lr: float | None = None  # discriminator learning rate (None: train.lr)

    def __post_init__(self) -> None:
        number("train.objective.gan_weight", self.gan_weight, 0.0)
        for i, width in enumerate(self.disc_channels):
            integer(f"train.objective.disc_channels[{i}]", width, 1)
        if self.disc_lr is not None:
            number("train.objective.disc_lr", self.disc_lr, 0.0, low_open=True)


class Discriminator(nn.Module):
    """x -> (logit (B,), features (B, F)): stride-2 convs for images, an MLP for tables."""

    def __init__(self, data_shape: tuple[int, ...], widths: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = []
        if len(data_shape) == 3:
            c, h, w = data_shape
            check_halvings(h, w, len(widths))
            for c_in, c_out in zip((c, *widths[:-1]), widths):
                layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        else:
            for d_in, d_out in zip((math.prod(data_shape), *widths[:-1]), widths):
                layers += [nn.Linear(d_in, d_out), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_feat = self.features(
                torch.zeros(1, *data_shape) if len(data_shape) == 3 else torch.zeros(1, math.prod(data_shape))
            ).shape[1]
        self.flat_input = len(data_shape) != 3
        self.head = nn.Linear(n_feat, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x.flatten(1) if self.flat_input else x)  # (B, F)
        return self.head(f).squeeze(-1), f


@OBJECTIVES.register("vaegan", VAEGANOptions)
class VAEGANObjective(TrainObjective):
    """VAE-GAN: reconstruction in a discriminator's feature space plus an adversarial decoder loss."""

    shardable = False
    why_unshardable = "its discriminator is not sharded"

    def __init__(self, t: TrainConfig, options: VAEGANOptions, ctx: ObjectiveContext):
        super().__init__(t, options, ctx)
        if t.compile:
            raise ConfigError("train.compile works with the elbo, iwae and btcvae objectives; set train.compile=false for vaegan")
        model = ctx.model
        device = next(model.parameters()).device
        self.disc = Discriminator(model.data_shape, options.disc_channels).to(device)
        self.modules = {"disc": self.disc}
        self.optimizers = {"disc": torch.optim.Adam(self.disc.parameters(), lr=options.disc_lr or t.lr, betas=(0.5, 0.999))}
        self._real: torch.Tensor | None = None
        self._fake: torch.Tensor | None = None

    def __call__(
        self,
        vae: VAE,
        x: torch.Tensor,
        *,
        eps: torch.Tensor | None,
        mask: torch.Tensor | None,
        condition: torch.Tensor | None,
        step: float,
    ) -> ELBOTerms:
        self.disc.train()
        qz = vae.encode(x, condition)
        z = qz.rsample() if eps is None else reparameterize(qz, eps)  # (B, D)
        px = vae.decode(z, condition)
        x_rec = px.mean  # (B, *shape)
        with torch.no_grad():
            f_real = self.disc(x)[1]  # (B, F)
        feature_nll = 0.5 * (self.disc(x_rec)[1] - f_real).pow(2).sum(-1)  # (B,)
        kl, _ = kl_terms(qz, vae.prior(), z)  # (B,)
        b = x.shape[0]
        z_fake = torch.cat([z.detach(), vae.sample_latent(b)])  # (2B, D): reconstructions and prior draws
        c_fake = None if condition is None else torch.cat([condition, condition])
        x_fake = vae.decode(z_fake, c_fake).mean  # (2B, *shape)
        gan = F.softplus(-self.disc(x_fake)[0]).mean()  # non-saturating: the decoder wants D(x_fake) -> 1
        recon = -observed_log_prob(px, x, mask)  # (B,) pixel NLL, reported (the loss uses features)
        loss = feature_nll.mean() + self.kl_weight(step) * kl.mean() + self.options.gan_weight * gan
        self._real, self._fake = x.detach(), x_fake.detach()
        elbo_ex = -(recon + kl).detach()
        return ELBOTerms(
            loss=loss,
            recon_nll=recon.mean(),
            kl=kl.mean(),
            elbo=elbo_ex.mean(),
            kl_per_dim=None,
            elbo_per_example=elbo_ex,
            extras={"gan_loss": gan.detach()},
        )

    def after_step(self, vae: VAE) -> torch.Tensor | None:
        if self._real is None or self._fake is None:
            return None
        logit_real, _ = self.disc(self._real)
        logit_fake, _ = self.disc(self._fake)
        loss = F.softplus(-logit_real).mean() + F.softplus(logit_fake).mean()  # -log D(x) - log(1 - D(x_fake))
        opt = self.optimizers["disc"]
        opt.zero_grad(set_to_none=True)  # also drops what the VAE's backward left in the discriminator
        loss.backward()
        if bool(torch.isfinite(loss)):
            opt.step()
        self._real = self._fake = None
        return loss.detach()
