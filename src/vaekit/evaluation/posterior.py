"""How the model uses its latent space: KL per dimension, active units, and the mutual information
I(x; z) under the encoder.

Active units (Burda et al. 2015): dimension d is active when Cov_x(E_q[z_d | x]) > 0.01, i.e. its
posterior mean moves with the input; inactive dimensions carry no information about x.

Mutual information. With x uniform over the N evaluated examples and q(z) = (1/N) sum_n q(z|x_n)
the aggregate posterior, Hoffman & Johnson's "ELBO surgery" splits the average KL term as

    E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)),
    I_q(x; z) = E_x E_{q(z|x)} [log q(z|x) - log q(z)].

We estimate the second line with one draw z_i ~ q(z|x_i) per example and the *whole* evaluated set
as the aggregate (log q(z_i) = logsumexp_n log q(z_i|x_n) - log N), not a minibatch as in the
estimator of Dieng et al. (2019) and He et al. (2019): the minibatch version caps the estimate at
log(batch size) and biases it down, while the full-set version is consistent for I_q under the
empirical data distribution, with only Monte Carlo error from the z draws. Its ceiling is log N
(reached when every posterior is far from every other), which the report states beside it. For
Gaussian posteriors the N x N matrix of log q(z_i|x_n) is three float64 GEMMs per chunk of queries.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vaekit.core.draws import gaussian_parts
from vaekit.core.elbo import kl_terms
from vaekit.core.inference import posterior_stats
from vaekit.core.vae import VAE
from vaekit.errors import ModelError

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2015


def activity(mean: torch.Tensor) -> torch.Tensor:
    """Cov_x(E_q[z]) per dimension: the variance across examples of the posterior means (N, D) -> (D,)."""
    return mean.double().var(0, unbiased=True) if mean.shape[0] > 1 else torch.zeros(mean.shape[1], dtype=torch.float64)


@dataclass(frozen=True)
class PosteriorResult:
    active_units: int
    activity: torch.Tensor  # (D,) float64 Cov_x(E_q[z_d])
    kl_per_dim: torch.Tensor | None  # (D,) float64 mean KL(q(z_d|x) || p(z_d)), when both factorise
    threshold: float
    latent_dim: int


@torch.inference_mode()
def posterior_diagnostics(
    model: VAE,
    x: torch.Tensor,
    *,
    threshold: float = ACTIVE_THRESHOLD,
    batch_size: int = 1000,
    condition: torch.Tensor | None = None,
) -> PosteriorResult:
    """Active units and per-dimension KL over the rows of x (N, *shape) (``condition``: their labels,
    for a conditional model)."""
    stats = posterior_stats(model, x, batch_size, condition)
    act = activity(stats.mean)  # (D,)
    return PosteriorResult(
        active_units=int((act > threshold).sum()),
        activity=act,
        kl_per_dim=kl_per_dim(model, x, batch_size=batch_size, condition=condition),
        threshold=threshold,
        latent_dim=int(stats.mean.shape[1]),
    )


@torch.inference_mode()
def kl_per_dim(
    model: VAE, x: torch.Tensor, *, batch_size: int = 1000, condition: torch.Tensor | None = None
) -> torch.Tensor | None:
    """Mean over the rows of x of KL(q(z_d|x) || p(z_d)) for each dimension d: (D,) float64, or None
    when the posterior or prior does not factorise over dimensions (no per-dimension KL exists)."""
    device = next(model.parameters()).device
    pz = model.prior()
    total = None
    for start in range(0, x.shape[0], batch_size):
        cb = None if condition is None else condition[start : start + batch_size].to(device)
        qz = model.encode(x[start : start + batch_size].to(device), cb)
        _, per_dim = kl_terms(qz, pz, qz.mean)  # (B, D) | None
        if per_dim is None:
            return None
        s = per_dim.double().sum(0).cpu()  # (D,)
        total = s if total is None else total + s
    return total / max(x.shape[0], 1) if total is not None else None


@dataclass(frozen=True)
class MIResult:
    mi: float  # nats
    max: float  # log N: the largest value the estimator can return
    n: int


def gaussian_mutual_information(
    loc: torch.Tensor, scale: torch.Tensor, *, generator: torch.Generator | None = None, chunk: int = 512
) -> MIResult:
    """I_q(x; z) for diagonal-Gaussian posteriors N(loc_n, scale_n^2), loc and scale (N, D), with x
    uniform over the N rows (see the module docstring). float64 throughout."""
    loc, scale = loc.double(), scale.double()  # (N, D)
    n, d = loc.shape
    if n < 2:
        raise ModelError("the mutual information estimate needs at least 2 examples")
    eps = torch.randn(n, d, generator=generator, dtype=torch.float64)  # (N, D)
    z = loc + scale * eps  # (N, D) one draw per example
    inv_var = scale.pow(-2)  # (N, D)
    log_norm = -scale.log().sum(1) - 0.5 * d * math.log(2 * math.pi)  # (N,)
    mu_term = (loc.pow(2) * inv_var).sum(1)  # (N,)
    log_q_own = -0.5 * eps.pow(2).sum(1) + log_norm  # (N,) log q(z_i | x_i)
    log_q_agg = torch.empty(n, dtype=torch.float64)
    for i in range(0, n, chunk):
        zi = z[i : i + chunk]  # (M, D)
        # sum_d (z_d - mu_nd)^2 / s_nd^2 = z^2 . (1/s^2) - 2 z . (mu/s^2) + sum mu^2/s^2
        quad = zi.pow(2) @ inv_var.T - 2.0 * (zi @ (loc * inv_var).T) + mu_term  # (M, N)
        log_q_agg[i : i + chunk] = torch.logsumexp(-0.5 * quad + log_norm, 1) - math.log(n)  # (M,)
    return MIResult(mi=float((log_q_own - log_q_agg).mean()), max=math.log(n), n=n)


@torch.inference_mode()
def mutual_information(
    model: VAE,
    x: torch.Tensor,
    *,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
    condition: torch.Tensor | None = None,
) -> MIResult:
    """I_q(x; z) of the model's encoder over the rows of x (N, *shape); diagonal-Gaussian posteriors."""
    device = next(model.parameters()).device
    qz = model.encode(torch.nan_to_num(x[:1].to(device), nan=0.0), None if condition is None else condition[:1].to(device))
    if gaussian_parts(qz) is None:
        raise ModelError(f"the mutual information estimate needs a diagonal-Gaussian posterior, not {type(qz).__name__}")
    stats = posterior_stats(model, x, batch_size, condition)
    return gaussian_mutual_information(stats.mean, stats.stddev, generator=generator)
