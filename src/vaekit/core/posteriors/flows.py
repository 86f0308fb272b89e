"""Normalizing-flow posteriors: a diagonal Gaussian pushed through invertible steps.

z0 = mu + sigma * eps, z_t = f_t(z_{t-1});  log q(z_T|x) = log N(z0; mu, sigma) - sum_t log|det df_t/dz|.

- ``planar`` (Rezende & Mohamed 2015): f(z) = z + u tanh(w.z + b), with u, w, b emitted per example
  by the encoder; u is adjusted so that w.u >= -1, which keeps f invertible.
- ``iaf`` (Kingma et al. 2016): f(z) = g * z + (1 - g) * m with (m, g) = MADE(z, h), g = sigmoid(s),
  the encoder emitting the context h; successive steps reverse the variable order.

``log_prob`` of a draw the distribution made itself is remembered; any other point is inverted
exactly (planar: a monotone scalar equation per step solved by bisection; IAF: D passes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Distribution, constraints
from torch.types import _size

from vaekit.config_checks import integer
from vaekit.core.made import MADE
from vaekit.registry import POSTERIORS


class PlanarStep:
    """One planar map with per-example parameters u, w (B, D) and b (B, 1)."""

    def __init__(self, u: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
        wu = (w * u).sum(-1, keepdim=True)  # (B, 1)
        self.u = u + (-1.0 + F.softplus(wu) - wu) * w / (w * w).sum(-1, keepdim=True).clamp_min(1e-8)  # w.u >= -1
        self.w, self.b = w, b

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a = (z * self.w).sum(-1, keepdim=True) + self.b  # (..., B, 1)
        t = torch.tanh(a)
        psi_u = (1 - t * t) * (self.w * self.u).sum(-1, keepdim=True)  # (..., B, 1)
        return z + self.u * t, torch.log((1 + psi_u).abs().clamp_min(1e-12)).squeeze(-1)  # (..., B, D), (..., B)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        # w.y = alpha + (w.u) tanh(alpha + b) is increasing in alpha = w.z; its root lies within |w.u| of w.y
        wy = (y * self.w).sum(-1, keepdim=True)  # (..., B, 1)
        wu = (self.w * self.u).sum(-1, keepdim=True)
        lo, hi = wy - wu.abs() - 1e-6, wy + wu.abs() + 1e-6
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            above = mid + wu * torch.tanh(mid + self.b) > wy
            lo, hi = torch.where(above, lo, mid), torch.where(above, mid, hi)
        alpha = 0.5 * (lo + hi)
        return y - self.u * torch.tanh(alpha + self.b)


class IAFStep:
    """One inverse autoregressive step with context h (B, H)."""

    def __init__(self, made: MADE, context: torch.Tensor):
        self.made, self.context = made, context

    def _gate(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, s = self.made(z, self.context)  # (..., B, D) each
        return m, torch.sigmoid(s + 2.0)  # the +2 starts each gate near 0.9: close to the identity

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m, g = self._gate(z)
        return g * z + (1 - g) * m, torch.log(g).sum(-1)  # (..., B, D), (..., B)

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        z = torch.zeros_like(y)
        for i in torch.argsort(self.made.order).tolist():  # in autoregressive order: z_i needs z_<i only
            m, g = self._gate(z)
            z = z.clone()
            z[..., i] = (y[..., i] - (1 - g[..., i]) * m[..., i]) / g[..., i]
        return z


class FlowDistribution(Distribution):
    """q(z|x) of a flow posterior: batch shape (B,), event shape (D,)."""

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc: torch.Tensor, scale: torch.Tensor, steps: list):
        self.loc, self.scale, self.steps = loc, scale, steps  # (B, D), (B, D)
        self._remembered: list[tuple[torch.Tensor, torch.Tensor]] = []
        super().__init__(loc.shape[:-1], loc.shape[-1:], validate_args=False)

    def _push(self, z0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        eps = (z0 - self.loc) / self.scale
        log_q = -0.5 * (eps * eps).sum(-1) - self.scale.log().sum(-1) - 0.5 * self.loc.shape[-1] * math.log(2 * math.pi)
        z = z0
        for step in self.steps:
            z, log_det = step.forward(z)
            log_q = log_q - log_det  # (..., B)
        return z, log_q

    def rsample_from(self, eps: torch.Tensor) -> torch.Tensor:
        z, log_q = self._push(self.loc + self.scale * eps)  # (*S, B, D), (*S, B)
        self._remembered = [(z, log_q), *self._remembered[:1]]  # the last two draws, like torch's transform cache
        return z

    def rsample(self, sample_shape: _size = torch.Size()) -> torch.Tensor:
        eps = torch.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.rsample_from(eps)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        for z, log_q in self._remembered:
            if value is z:
                return log_q
        z = value
        for step in reversed(self.steps):
            z = step.inverse(z)
        return self._push(z)[1]

    @property
    def mean(self) -> torch.Tensor:
        """The flow applied to the base mean: a central point of q, not its exact expectation."""
        return self._push(self.loc)[0]

    @property
    def stddev(self) -> torch.Tensor:
        """Per-dimension spread from 256 draws of a fixed-seed stream (deterministic; no closed form)."""
        g = torch.Generator(device=self.loc.device).manual_seed(0)
        eps = torch.randn((256, *self.loc.shape), generator=g, device=self.loc.device, dtype=self.loc.dtype)
        return self._push(self.loc + self.scale * eps)[0].std(0)


class FlowPosterior(nn.Module):
    """Encoder output -> FlowDistribution. The encoder emits [mu, pre-scale, step parameters]:
    planar: (2D + 1) per step; iaf: a context vector of ``hidden`` numbers shared by all steps."""

    def __init__(self, latent_dim: int, kind: Literal["planar", "iaf"], steps: int, hidden: int = 64):
        super().__init__()
        self.latent_dim, self.kind, self.n_steps = latent_dim, kind, steps
        d = latent_dim
        if kind == "planar":
            self.params_out = 2 * d + steps * (2 * d + 1)
            self.mades = nn.ModuleList()
        else:
            self.params_out = 2 * d + hidden
            self.mades = nn.ModuleList(MADE(d, hidden, context_dim=hidden, reverse=bool(i % 2)) for i in range(steps))

    def forward(self, h: torch.Tensor) -> Distribution:
        d = self.latent_dim
        loc, pre, rest = h[..., :d], h[..., d : 2 * d], h[..., 2 * d :]  # (B, D), (B, D), (B, extra)
        scale = F.softplus(pre) + 1e-5
        if self.kind == "planar":
            steps: list[PlanarStep] | list[IAFStep] = [
                PlanarStep(p[..., :d], p[..., d : 2 * d], p[..., 2 * d :])
                for p in rest.split(2 * d + 1, dim=-1)  # each (B, 2D + 1)
            ]
        else:
            context = F.elu(rest)  # (B, hidden)
            steps = [IAFStep(cast(MADE, made), context) for made in self.mades]
        return FlowDistribution(loc, scale, steps)


@dataclass(frozen=True)
class PlanarOptions:
    steps: int = 4  # planar maps

    def __post_init__(self) -> None:
        integer("model.posterior.steps", self.steps, 1)


@dataclass(frozen=True)
class IAFOptions:
    steps: int = 4  # inverse autoregressive steps
    hidden: int = 64  # hidden width of each MADE (and of the context the encoder emits)

    def __post_init__(self) -> None:
        integer("model.posterior.steps", self.steps, 1)
        integer("model.posterior.hidden", self.hidden, 1)


@POSTERIORS.register("planar", PlanarOptions)
def planar_posterior(latent_dim: int, options: PlanarOptions) -> FlowPosterior:
    """A diagonal Gaussian pushed through planar maps (Rezende & Mohamed 2015)."""
    return FlowPosterior(latent_dim, "planar", options.steps)


@POSTERIORS.register("iaf", IAFOptions)
def iaf_posterior(latent_dim: int, options: IAFOptions) -> FlowPosterior:
    """A diagonal Gaussian pushed through inverse autoregressive steps (Kingma et al. 2016)."""
    return FlowPosterior(latent_dim, "iaf", options.steps, options.hidden)
