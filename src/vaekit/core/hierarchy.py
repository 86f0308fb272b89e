"""Stacked stochastic layers (``model.latent_dims = [d1, d2, ...]``, bottom first), as in the IWAE
paper's 2-layer model:

    q(z|x) = q(z1|x) q(z2|z1) ... q(zL|z_{L-1})        p(z) = p(zL) p(z_{L-1}|zL) ... p(z1|z2)

and p(x|z1). The model's latent z is the concatenation [z1, ..., zL] (latent_dim = sum of dims), so
the objectives, IWAE weights and evaluation treat a hierarchy like any other posterior/prior pair;
the decoder reads z1 alone (``FirstLayer``). A deeper ladder is the same code with a longer list.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, constraints
from torch.func import functional_call
from torch.types import _size

from vaekit.core.networks import activation


class GaussianLayer(nn.Module):
    """A conditional diagonal Gaussian: MLP(z_in) -> (mu, sigma), each (..., d_out)."""

    def __init__(self, d_in: int, hidden: tuple[int, ...], d_out: int, act: str):
        super().__init__()
        layers: list[nn.Module] = []
        for w_in, w_out in zip((d_in, *hidden[:-1]), hidden):
            layers += [nn.Linear(w_in, w_out), activation(act)]
        self.net = nn.Sequential(*layers, nn.Linear(hidden[-1] if hidden else d_in, 2 * d_out))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, pre = self.net(z).chunk(2, dim=-1)  # (..., d_out) each
        return mu, F.softplus(pre) + 1e-5


def _gauss_log_prob(z: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    e = (z - mu) / scale
    return (-0.5 * e * e - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)  # (...,)


def _frozen(layer: nn.Module, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """layer(z) with the layer's parameters cut from the graph (gradients still flow through z)."""
    params = {k: v.detach() for k, v in layer.named_parameters()}
    return functional_call(layer, params, (z,))


class LadderDistribution(Distribution):
    """A chain of Gaussians over z = [z1, ..., zL]: z1 ~ N(mu1, s1), z_{l+1} ~ N(layer_l(z_l)).

    Serves as the posterior (first link from the encoder; batch (B,)) and as the prior (top link
    N(0, I), then layers going down; batch ()). ``order`` lists the layer indices in sampling order.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        dims: tuple[int, ...],
        first: tuple[torch.Tensor, torch.Tensor],
        layers: nn.ModuleList,
        top_down: bool,
        frozen: bool = False,
    ):
        self.dims, self.first, self.layers, self.top_down, self.frozen = dims, first, layers, top_down, frozen
        self.starts = [sum(dims[:i]) for i in range(len(dims))]
        super().__init__(first[0].shape[:-1], torch.Size([sum(dims)]), validate_args=False)

    def _order(self) -> list[int]:
        return list(range(len(self.dims)))[:: -1 if self.top_down else 1]

    def _part(self, z: torch.Tensor, i: int) -> torch.Tensor:
        return z[..., self.starts[i] : self.starts[i] + self.dims[i]]

    def _link(self, j: int, z_prev: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        layer = self.layers[j]
        return _frozen(layer, z_prev) if self.frozen else layer(z_prev)

    def rsample_from(self, eps: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
        order = self._order()
        parts: dict[int, torch.Tensor] = {}
        mu, scale = self.first
        parts[order[0]] = mu + temperature * scale * self._part(eps, order[0])
        for j, i in enumerate(order[1:]):
            mu, scale = self._link(j, parts[order[j]])
            parts[i] = mu + temperature * scale * self._part(eps, i)
        return torch.cat([parts[i] for i in range(len(self.dims))], -1)  # (*S, *batch, D)

    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        mu = self.first[0]
        eps = torch.randn(self._extended_shape(sample_shape), dtype=mu.dtype, device=mu.device)
        return self.rsample_from(eps)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        order = self._order()
        mu, scale = self.first
        total = _gauss_log_prob(self._part(value, order[0]), mu, scale)
        for j, i in enumerate(order[1:]):
            mu, scale = self._link(j, self._part(value, order[j]))
            total = total + _gauss_log_prob(self._part(value, i), mu, scale)
        return total  # value.shape[:-1]

    def _mean_path(self) -> tuple[torch.Tensor, torch.Tensor]:
        order = self._order()
        mus, scales = {order[0]: self.first[0]}, {order[0]: self.first[1]}
        for j, i in enumerate(order[1:]):
            mus[i], scales[i] = self._link(j, mus[order[j]])
        n = range(len(self.dims))
        shape = self.batch_shape + self.event_shape
        return torch.cat([mus[i] for i in n], -1).expand(shape), torch.cat([scales[i] for i in n], -1).expand(shape)

    @property
    def mean(self) -> torch.Tensor:
        """Each layer's conditional mean given the layer before's mean (exact for z1)."""
        return self._mean_path()[0]

    @property
    def stddev(self) -> torch.Tensor:
        """Each layer's conditional standard deviation along the mean path."""
        return self._mean_path()[1]

    def stop_gradient(self) -> LadderDistribution:
        mu, scale = self.first
        return LadderDistribution(self.dims, (mu.detach(), scale.detach()), self.layers, self.top_down, frozen=True)


class LadderPosterior(nn.Module):
    """q(z1|x) from the encoder's (B, 2*d1) output, then q(z_{l+1}|z_l) by MLPs."""

    def __init__(self, dims: tuple[int, ...], hidden: tuple[int, ...], act: str):
        super().__init__()
        self.dims, self.latent_dim, self.params_out = tuple(dims), sum(dims), 2 * dims[0]
        self.layers = nn.ModuleList(GaussianLayer(dims[i], hidden, dims[i + 1], act) for i in range(len(dims) - 1))

    def forward(self, h: torch.Tensor) -> Distribution:
        mu, pre = h.chunk(2, dim=-1)  # (B, d1) each
        return LadderDistribution(self.dims, (mu, F.softplus(pre) + 1e-5), self.layers, top_down=False)


class LadderPrior(nn.Module):
    """p(zL) = N(0, I), then p(z_l|z_{l+1}) by MLPs, top down."""

    top_loc: torch.Tensor  # buffer
    top_scale: torch.Tensor  # buffer

    def __init__(self, dims: tuple[int, ...], hidden: tuple[int, ...], act: str):
        super().__init__()
        self.dims, self.latent_dim = tuple(dims), sum(dims)
        n = len(dims)
        self.layers = nn.ModuleList(GaussianLayer(dims[i], hidden, dims[i - 1], act) for i in range(n - 1, 0, -1))
        self.register_buffer("top_loc", torch.zeros(dims[-1]), persistent=False)
        self.register_buffer("top_scale", torch.ones(dims[-1]), persistent=False)

    def forward(self) -> Distribution:
        return LadderDistribution(self.dims, (self.top_loc, self.top_scale), self.layers, top_down=True)

    def sample_latent(self, n: int, temperature: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
        eps = torch.randn((n, self.latent_dim), generator=generator, device=self.top_loc.device)  # (n, D)
        return self().rsample_from(eps, temperature)


class FirstLayer(nn.Module):
    """Feeds a decoder z1 (the first ``d1`` latent numbers) and whatever follows the latent (a condition)."""

    def __init__(self, decoder: nn.Module, d1: int, latent_dim: int):
        super().__init__()
        self.decoder, self.d1, self.latent_dim = decoder, d1, latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z[..., : self.d1], z[..., self.latent_dim :]], -1))  # (N, ...)
