"""Hamiltonian Monte Carlo in latent space for restoration: z ~ p(z | x_obs) ∝ p(x_obs | z) p(z).

The missing entries are integrated out rather than sampled, so the chain moves on z alone and
the estimate averages E[x_miss | z_t]. Gradient-guided moves mix far better than Gibbs-type
chains when x_obs pins z down tightly (the encoder never saw half-images, and the Gibbs chains'
sampled x_miss hold z in place); see benchmarks/results/imputation.md. Each step costs
``leapfrog`` decoder passes forward and backward.

The step size is per chain, adapted during burn-in towards an acceptance probability of 0.75
and then frozen, so the kept part of the chain is an exact Metropolis-Hastings chain.
"""

from __future__ import annotations

import torch
from torch.distributions import Independent

from vaekit.core.draws import draw
from vaekit.core.vae import VAE

TARGET_ACCEPT = 0.75


def _observed_log_joint(
    model: VAE, z: torch.Tensor, x: torch.Tensor, m: torch.Tensor, c: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p(x_obs | z) + log p(z), its gradient in z, and E[x | z]: (B,), (B, D), (B, *S)."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        px = model.decode(z, c)  # batch (B,); c: the rows' labels for a conditional model
        assert isinstance(px, Independent)  # every vaekit likelihood is per element (core/likelihoods)
        per_element = torch.where(m, px.base_dist.log_prob(x), torch.zeros_like(x))  # (B, *S) missing -> 0
        log_joint = per_element.flatten(1).sum(1) + model.prior().log_prob(z)  # (B,)
        (grad,) = torch.autograd.grad(log_joint.sum(), z)
    return log_joint.detach(), grad, px.mean.detach()


def hmc_chain(
    model: VAE,
    x: torch.Tensor,
    m: torch.Tensor,
    z: torch.Tensor,
    *,
    steps: int,
    burn_in: int,
    keep: tuple[int, ...],
    draw_samples: bool,
    leapfrog: int,
    g: torch.Generator,
    condition: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Run B chains from ``z`` (B, D): (estimate (B, *S), kept completions (B, K, *S) | None, acceptance (B,))."""
    b, device = x.shape[0], x.device
    x = torch.where(m, x, torch.zeros_like(x))  # missing entries are never scored; keep them finite
    step = torch.full((b, 1), 0.1, device=device)  # (B, 1) leapfrog step size per chain
    log_joint, grad, mean = _observed_log_joint(model, z, x, m, condition)
    total = torch.zeros_like(x, dtype=torch.float64)  # (B, *S) running sum of E[x | z_t]
    kept: list[torch.Tensor] = []
    accepted = torch.zeros(b, dtype=torch.float64)
    for t in range(steps):
        p0 = torch.randn(z.shape, generator=g).to(device)  # (B, D) momentum
        z_new, p = z, p0 + 0.5 * step * grad
        for i in range(leapfrog):
            z_new = z_new + step * p
            lj_new, g_new, mean_new = _observed_log_joint(model, z_new, x, m, condition)
            p = p + (step if i < leapfrog - 1 else 0.5 * step) * g_new
        # log of [p(x_obs, z') exp(-|p'|^2 / 2)] / [p(x_obs, z) exp(-|p0|^2 / 2)]; NaN (a divergence) rejects
        log_ratio = torch.nan_to_num(lj_new - 0.5 * p.pow(2).sum(1) - log_joint + 0.5 * p0.pow(2).sum(1), nan=-torch.inf)
        accept = torch.rand(b, generator=g).log().to(device) < log_ratio  # (B,)
        accepted += accept.cpu().double()
        if t < burn_in:  # Robbins-Monro on log step towards the target acceptance; frozen afterwards
            alpha = log_ratio.clamp(max=0.0).exp()[:, None]  # (B, 1)
            step = (step * torch.exp(0.5 * (alpha - TARGET_ACCEPT))).clamp(1e-4, 2.0)
        a = accept[:, None]
        z, grad = torch.where(a, z_new, z), torch.where(a, g_new, grad)
        log_joint = torch.where(accept, lj_new, log_joint)
        mean = torch.where(accept.reshape(b, *([1] * (x.dim() - 1))), mean_new, mean)  # (B, *S) E[x | z_t]
        if t >= burn_in:
            total += mean.double()
        if t in keep:
            with torch.no_grad():
                kept.append(torch.where(m, x, draw(model.decode(z, condition), g) if draw_samples else mean))
    estimate = (total / (steps - burn_in)).to(x.dtype)
    return estimate, (torch.stack(kept, 1) if kept else None), accepted / steps
