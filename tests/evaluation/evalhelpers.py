"""Tiny models and exact answers (numerical integration) shared by the evaluation tests."""

import math

import torch

from vaekit.config import ModelConfig
from vaekit.core import build_model


def tiny_model(latent_dim: int = 1, data_dim: int = 4, likelihood: str = "bernoulli", seed: int = 0, scale: float = 1.0):
    torch.manual_seed(seed)
    return build_model(
        ModelConfig(
            arch="mlp",
            hidden=(8,),
            latent_dim=latent_dim,
            likelihood={"kind": likelihood, "scale": scale} if likelihood in ("gaussian", "laplace") else likelihood,
        ),
        (data_dim,),
    ).eval()


def exact_log_px(model, x: torch.Tensor, lo: float = -10.0, hi: float = 10.0, points: int = 4001) -> torch.Tensor:
    """log p(x) = log ∫ p(x|z) p(z) dz by a Riemann sum on a grid over a 1- or 2-D latent: (N,) float64."""
    d = model.latent_dim
    if d == 1:
        grid = torch.linspace(lo, hi, points, dtype=torch.float64)[:, None]  # (G, 1)
    else:
        points = min(points, 301)
        g = torch.linspace(lo, hi, points, dtype=torch.float64)
        grid = torch.cartesian_prod(g, g)  # (G, 2)
    cell = ((hi - lo) / (points - 1)) ** d
    with torch.inference_mode():
        px = model.decode(grid.float()[:, None, :])  # batch (G, 1)
        log_lik = px.log_prob(x[None]).double()  # (G, N)
        log_prior = (-0.5 * grid.pow(2).sum(1) - 0.5 * d * math.log(2 * math.pi))[:, None]  # (G, 1)
        return torch.logsumexp(log_lik + log_prior, 0) + math.log(cell)


def exact_elbo(model, x: torch.Tensor, lo: float = -10.0, hi: float = 10.0, points: int = 4001) -> torch.Tensor:
    """ELBO(x) = ∫ q(z|x) log[p(x|z) p(z) / q(z|x)] dz for a 1-D latent, by a Riemann sum: (N,) float64."""
    assert model.latent_dim == 1
    grid = torch.linspace(lo, hi, points, dtype=torch.float64)  # (G,)
    cell = (hi - lo) / (points - 1)
    with torch.inference_mode():
        qz = model.encode(x)
        mu, sd = qz.base_dist.loc.double()[:, 0], qz.base_dist.scale.double()[:, 0]  # (N,)
        log_q = -0.5 * ((grid[:, None] - mu) / sd) ** 2 - sd.log() - 0.5 * math.log(2 * math.pi)  # (G, N)
        log_lik = model.decode(grid.float()[:, None, None]).log_prob(x).double()  # (G, N)
        log_prior = -0.5 * grid**2 - 0.5 * math.log(2 * math.pi)  # (G,)
        integrand = log_q.exp() * (log_lik + log_prior[:, None] - log_q)
        return integrand.sum(0) * cell
