"""Moving through latent space: interpolation between inputs and traversal of single dimensions.

Interpolation decodes points on a path between two inputs' posterior means: a straight line
(``lerp``) or the great-circle arc (``slerp``, which keeps the norm when both ends have the same
norm, where a straight line cuts through the low-density middle of a Gaussian prior).

Traversal fixes a base code and sweeps one latent dimension at a time over ``prior mean +
v * prior stddev`` for v in [-span, span], the other dimensions staying at the base. Dimensions
are ranked by their average KL(q(z_d|x) || p(z_d)) on data: a dimension the encoder ignores has
KL near 0 and decodes to the same picture all along its row, so informative ones come first.

A conditional model encodes each end given its own label; along the path the condition vector
moves linearly from one end's (one-hot) label to the other's, with z. A traversal decodes every
cell given one label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import torch

from vaekit.core.inference import decode_mean, posterior_stats
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError, ModelError

Mode = Literal["lerp", "slerp"]
MODES: tuple[str, ...] = ("lerp", "slerp")
_SMALL_ANGLE = 1e-4  # radians; below this slerp's weights are lerp's to within ~1e-9


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Straight line: z0, z1 (..., D), t (S,) -> (..., S, D); exactly z0 at t = 0 and z1 at t = 1."""
    t = t.to(z0.dtype)[:, None]  # (S, 1)
    return z0.unsqueeze(-2) * (1 - t) + z1.unsqueeze(-2) * t  # (..., S, D)


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation: z0, z1 (..., D), t (S,) -> (..., S, D).

    z(t) = sin((1-t) w) / sin(w) z0 + sin(t w) / sin(w) z1, with w the angle between z0 and z1.
    For equal norms every point has that norm and the angle to z0 grows linearly in t. As w -> 0
    the weights tend to lerp's (1-t, t), which are used below 1e-4 rad, and also for a zero
    endpoint or opposite directions (sin w ~ 0), where no single arc is defined.
    """
    t = t.to(z0.dtype)  # (S,)
    n0 = z0.norm(dim=-1, keepdim=True)  # (..., 1)
    n1 = z1.norm(dim=-1, keepdim=True)
    tiny = torch.finfo(z0.dtype).tiny
    u, v = z0 / n0.clamp_min(tiny), z1 / n1.clamp_min(tiny)  # unit directions (..., D)
    # the angle from chord lengths: accurate near 0 and pi, unlike acos of the dot product
    omega = 2 * torch.atan2((u - v).norm(dim=-1), (u + v).norm(dim=-1))  # (...,)
    sin_omega = torch.sin(omega)
    degenerate = (omega < _SMALL_ANGLE) | (sin_omega < 1e-6) | (n0[..., 0] == 0) | (n1[..., 0] == 0)  # (...,)
    w = omega[..., None]  # (..., 1)
    denom = torch.where(degenerate, torch.ones_like(sin_omega), sin_omega)[..., None]  # (..., 1)
    c0 = torch.sin((1 - t) * w) / denom  # (..., S)
    c1 = torch.sin(t * w) / denom
    c0 = torch.where(degenerate[..., None], 1 - t, c0)
    c1 = torch.where(degenerate[..., None], t.expand_as(c1), c1)
    # the ends exactly, whatever the last bit of sin() does
    c0 = torch.where(t == 0, 1.0, torch.where(t == 1, 0.0, c0))
    c1 = torch.where(t == 0, 0.0, torch.where(t == 1, 1.0, c1))
    return c0[..., None] * z0.unsqueeze(-2) + c1[..., None] * z1.unsqueeze(-2)  # (..., S, D)


def latent_path(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "lerp") -> torch.Tensor:
    """``steps`` evenly spaced points from z0 to z1 (both included): (P, D) -> (P, steps, D)."""
    if mode not in MODES:
        raise ConfigError(f"unknown interpolation mode {mode!r}: use lerp or slerp")
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps (its two ends), got {steps}")
    t = torch.linspace(0.0, 1.0, steps)  # (S,)
    return (slerp if mode == "slerp" else lerp)(z0, z1, t)


@dataclass(frozen=True)
class Interpolation:
    z: torch.Tensor  # (P, S, D) the latent path of each pair
    x: torch.Tensor  # (P, S, *data_shape) mean of p(x|z) along it


def interpolate(
    model: VAE,
    x0: torch.Tensor,
    x1: torch.Tensor,
    steps: int = 10,
    mode: str = "lerp",
    batch_size: int = 1024,
    condition0: torch.Tensor | None = None,
    condition1: torch.Tensor | None = None,
) -> Interpolation:
    """Decode paths between the posterior means of x0[i] and x1[i]; x0, x1 (P, *data_shape).
    A conditional model needs the ends' labels ``condition0``, ``condition1`` (P,)."""
    if x0.shape != x1.shape:
        raise ConfigError(f"the two ends differ in shape: {tuple(x0.shape)} vs {tuple(x1.shape)}")
    if model.conditional and (condition0 is None or condition1 is None):
        raise ModelError("this model is conditional: pass condition0= and condition1= (the labels of both ends, (P,))")
    z0 = posterior_stats(model, x0, batch_size, condition0).mean  # (P, D)
    z1 = posterior_stats(model, x1, batch_size, condition1).mean
    z = latent_path(z0, z1, steps, mode)  # (P, S, D)
    c = None
    if model.condition is not None:
        n = x0.shape[0]
        c0, c1 = model.condition(condition0, n).cpu(), model.condition(condition1, n).cpu()  # (P, C) one-hot or covariates
        c = lerp(c0, c1, torch.linspace(0.0, 1.0, steps)).reshape(n * steps, -1)  # (P*S, C) label moves with z
    x = decode_mean(model, z.reshape(-1, model.latent_dim), batch_size, c)  # (P*S, *data_shape)
    return Interpolation(z, x.reshape(*z.shape[:2], *x.shape[1:]))


def choose_pairs(n: int, pairs: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(P, 2) indices of distinct examples out of n: disjoint pairs while n allows, else random ones."""
    if pairs < 1:
        raise ConfigError(f"--pairs must be at least 1, got {pairs}")
    if n < 2:
        raise ConfigError(f"interpolation needs at least 2 examples, the split has {n}")
    if 2 * pairs <= n:
        return torch.randperm(n, generator=generator)[: 2 * pairs].view(pairs, 2)
    return torch.stack([torch.randperm(n, generator=generator)[:2] for _ in range(pairs)])


# ----------------------------------------------------------------------------------- traversal


def kl_per_dim(model: VAE, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> torch.Tensor:
    """Average KL(q(z_d|x) || p(z_d)) of each latent dimension over the rows of x: (D,) nats
    (``condition``: the rows' labels, for a conditional model)."""
    from vaekit.evaluation.posterior import kl_per_dim as mean_kl_per_dim

    if x.shape[0] == 0:
        raise ConfigError("no examples to measure the per-dimension KL on")
    kl = mean_kl_per_dim(model, x, batch_size=batch_size, condition=condition)
    if kl is None:
        raise ModelError("ranking dimensions by KL needs a posterior and prior that factorise over dimensions")
    return kl


def dimension_scores(
    model: VAE, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None
) -> tuple[torch.Tensor, str]:
    """How much each latent dimension is used, over the rows of x: (D,) scores and their name.

    The per-dimension KL when posterior and prior factorise over dimensions; otherwise (full
    covariance, flows, mixture or Vamp priors, discrete codes) no per-dimension KL exists, and the
    score is the activity Cov_x(E_q[z_d]) of Burda et al., which ranks dimensions the same way in
    spirit: an ignored dimension's posterior mean does not move with x."""
    from vaekit.evaluation.posterior import activity
    from vaekit.evaluation.posterior import kl_per_dim as mean_kl_per_dim

    if x.shape[0] == 0:
        raise ConfigError("no examples to measure the latent dimensions on")
    kl = mean_kl_per_dim(model, x, batch_size=batch_size, condition=condition)
    if kl is not None:
        return kl, "KL"
    return activity(posterior_stats(model, x, batch_size, condition).mean), "activity"


def rank_dims(kl: torch.Tensor) -> torch.Tensor:
    """Dimension indices by decreasing KL (ties keep index order): rank r -> original dimension."""
    return torch.sort(kl, descending=True, stable=True).indices


def parse_dims(text: str, n: int) -> list[int]:
    """``"0-9"``, ``"0,2,5-7"`` -> [0, ..., 9], [0, 2, 5, 6, 7]; each must be in [0, n)."""
    out: list[int] = []
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise ConfigError(f"--dims {text!r}: use numbers and ranges like 0-9 or 0,2,5-7")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise ConfigError(f"--dims {text!r}: the range {lo}-{hi} runs backwards")
        out.extend(range(lo, hi + 1))
    bad = [d for d in out if d >= n]
    if bad:
        raise ConfigError(f"--dims {text!r}: {bad[0]} is out of range; the model has {n} latent dimensions (0-{n - 1})")
    return out


@dataclass(frozen=True)
class Traversal:
    x: torch.Tensor  # (R, S, *data_shape) one row per chosen dimension
    dims: list[int]  # (R,) the original latent index of each row
    kl: torch.Tensor  # (R,) that dimension's score: average KL in nats, or activity (see dimension_scores)
    values: torch.Tensor  # (S,) the swept values, in prior standard deviations


def traverse(
    model: VAE,
    dims: list[int],
    kl: torch.Tensor,
    z_base: torch.Tensor | None = None,
    span: float = 3.0,
    steps: int = 9,
    batch_size: int = 1024,
    condition: int | torch.Tensor | None = None,
) -> Traversal:
    """Row r sets dimension dims[r] to prior mean + v * prior stddev for ``steps`` values v evenly
    spaced over [-span, span], with the other dimensions at ``z_base`` (D,) (zero by default).
    A conditional model decodes every cell given one ``condition`` (a label)."""
    d = model.latent_dim
    if steps < 2:
        raise ConfigError(f"a traversal needs at least 2 steps, got {steps}")
    if span <= 0:
        raise ConfigError(f"--range must be positive, got {span}")
    if not dims or any(not 0 <= i < d for i in dims):
        raise ConfigError(f"choose latent dimensions in 0-{d - 1}, got {dims}")
    pz = model.prior()
    loc, scale = pz.mean.detach().cpu(), pz.stddev.detach().cpu()  # (D,)
    base = torch.zeros(d) if z_base is None else z_base.detach().cpu().reshape(d)
    values = (torch.arange(steps) * 2 - (steps - 1)) / (steps - 1) * span  # (S,) exactly 0 in the middle (linspace gives -3e-08)
    index = torch.tensor(dims)  # (R,)
    z = base.expand(len(dims), steps, d).clone()  # (R, S, D)
    rows = torch.arange(len(dims))
    z[rows, :, index] = loc[index, None] + values[None, :] * scale[index, None]  # (R, S)
    c = None
    if model.condition is not None:
        if condition is None:
            raise ModelError("this model is conditional: pass condition= (the label every cell is decoded with)")
        c = model.condition(condition, len(dims) * steps).cpu()  # (R*S, C)
    x = decode_mean(model, z.reshape(-1, d), batch_size, c)  # (R*S, *data_shape)
    return Traversal(x.reshape(len(dims), steps, *x.shape[1:]), list(dims), kl[index].float(), values)
