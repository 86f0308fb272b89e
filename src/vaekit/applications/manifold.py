"""The learned manifold (Kingma & Welling 2014, fig. 4; the Keras VAE example): decode a grid of codes
spread over the prior's quantiles in two latent dimensions, every other dimension at its prior mean.

Cell (r, c) decodes z with ``z[dims[0]] = mean_0 + std_0 * Phi^-1(q_c)`` (left to right) and
``z[dims[1]] = mean_1 + std_1 * Phi^-1(q_r)`` with the quantiles q taken from the top down, so the
picture reads like a plot: up is larger z[dims[1]]. The quantiles are evenly spaced over
[q_min, 1 - q_min]; equal steps in probability put the cells where the prior's mass is, instead
of spending half the grid in its tails. For a Gaussian prior (the standard normal) this is the
exact quantile function of each marginal; for a mixture or VampPrior it uses the prior's overall
mean and standard deviation as a Gaussian stand-in.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.core.inference import decode_mean
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError, ModelError


@dataclass(frozen=True)
class Manifold:
    x: torch.Tensor  # (G, G, *data_shape): row r, column c as in the module docstring
    dims: tuple[int, int]  # (horizontal, vertical) latent dimensions
    quantiles: torch.Tensor  # (G,) increasing prior quantiles; columns use them left to right, rows top down reversed
    values: torch.Tensor  # (2, G) the z values along each axis, increasing (rows show values[1] reversed)


def quantile_grid(grid: int, q_min: float = 0.05) -> torch.Tensor:
    """(G,) probabilities evenly spaced over [q_min, 1 - q_min], float64; the middle one of an odd grid is 0.5."""
    if grid < 2:
        raise ConfigError(f"--grid must be at least 2, got {grid}")
    if not 0.0 < q_min < 0.5:
        raise ConfigError(f"--quantile must be in (0, 0.5), got {q_min}")
    steps = torch.arange(grid, dtype=torch.float64) * 2 - (grid - 1)  # odd grids: exactly 0 in the middle
    return 0.5 + steps / (grid - 1) * (0.5 - q_min)


def latent_manifold(
    model: VAE,
    grid: int = 15,
    dims: tuple[int, int] = (0, 1),
    q_min: float = 0.05,
    condition: int | torch.Tensor | None = None,
    batch_size: int = 1024,
) -> Manifold:
    """Decode a ``grid`` x ``grid`` sweep of latent dimensions ``dims`` over the prior's quantiles
    (see the module docstring); a conditional model decodes every cell given ``condition`` (a label)."""
    d = model.latent_dim
    if len(dims) != 2 or dims[0] == dims[1]:
        raise ConfigError(f"--dims takes two different latent dimensions, like 0,1; got {list(dims)}")
    if d < 2:
        raise ConfigError(f"the manifold needs at least 2 latent dimensions; this model has {d}")
    bad = [i for i in dims if not 0 <= i < d]
    if bad:
        raise ConfigError(f"--dims: {bad[0]} is out of range; the model has {d} latent dimensions (0-{d - 1})")
    q = quantile_grid(grid, q_min)  # (G,)
    pz = model.prior()
    loc, scale = pz.mean.detach().cpu().reshape(-1), pz.stddev.detach().cpu().reshape(-1)  # (D,)
    std_normal = torch.distributions.Normal(0.0, 1.0).icdf(q).float()  # (G,) Phi^-1(q)
    index = torch.tensor(dims)
    values = loc[index, None] + scale[index, None] * std_normal[None, :]  # (2, G)
    z = loc.expand(grid, grid, d).clone()  # (G, G, D)
    z[:, :, dims[0]] = values[0][None, :]  # columns: left to right
    z[:, :, dims[1]] = values[1].flip(0)[:, None]  # rows: top = largest
    c = None
    if model.condition is not None:
        if condition is None:
            raise ModelError("this model is conditional: pass condition= (the label every cell is decoded with)")
        c = model.condition(condition, grid * grid).cpu()  # (G*G, C)
    x = decode_mean(model, z.reshape(-1, d), batch_size, c)  # (G*G, *data_shape)
    return Manifold(x.reshape(grid, grid, *x.shape[1:]), (int(dims[0]), int(dims[1])), q, values)
