"""Restoration with a trained VAE: fill missing entries (inpainting, imputation) and denoise.

Missing entries are filled by a Markov chain that never moves the observed entries:

- ``mwg`` — Metropolis-within-Gibbs (Mattei & Frellsen, 2018). With x̂ = (x_obs, x_miss) the
  current completion, propose z' ~ q(z|x̂) and accept with probability

      min(1, p(x̂|z') p(z') q(z|x̂) / (p(x̂|z) p(z) q(z'|x̂))),

  then draw x_miss ~ p(x_miss|z). Both steps are exact Gibbs/MH updates of the joint
  p(z, x_miss | x_obs), so the chain targets the model's true conditional whatever the encoder's
  errors. The ratio uses p(x̂|z) = p(x_obs|z) p(x_miss|z) — the full completion, not x_obs alone:
  the proposal depends on x_miss, and dropping p(x_miss|z) gives a chain that leaves neither
  p(z|x_obs) nor the joint invariant (on a linear-Gaussian model its conditional mean is off by
  tens of standard errors; the closed-form test in tests/applications catches that).
- ``pseudo-gibbs`` — Rezende et al. (2014): z ~ q(z|x̂), x_miss ~ p(x_miss|z) (or its mean with
  ``fill="mean"``), every proposal taken. Cheaper per step, but it samples the conditional only
  when q(z|x) is the exact posterior.
- ``hmc`` — Hamiltonian Monte Carlo on z with target p(z | x_obs) ∝ p(x_obs|z) p(z), x_miss
  integrated out (``latent_hmc.py``). Exact like MwG and, on images, it mixes much faster: the
  Gibbs-type chains crawl when the sampled x_miss pins z down (benchmarks/results/imputation.md).
  ``leapfrog`` decoder passes (forward and backward) per step.

Every chain starts with ``warmup`` pseudo-Gibbs steps (fast moves to plausible completions, not
kept). ``chains`` independent chains per input are averaged: the conditional is often multimodal
(the top half of a digit fits several bottoms) and one slow chain reports one mode.

The returned imputation is the conditional-mean estimate E[x_miss | x_obs] ≈ the average of the
decoded means E[x_miss | z_t] over the chain's states after burn-in (Rao-Blackwellised: smoother
than averaging draws). ``samples=K`` also returns K completions taken at states spread evenly
over that part of the chain: the decoded mean at each (one plausible completion), or a draw
x_miss ~ p(x_miss|z_t) with ``draw_samples=True``. Observed entries are copied from the input
bit for bit. A conditional model restores each input given its label (``condition``): every
p(x|z), q(z|x) above is then p(x|z, label), q(z|x, label).

``bounds`` (low, high), each broadcastable to one example's shape, hold every filled entry in a box
— for a table, each column's range in the training data. The Gibbs-type chains clip their draws
into it before re-encoding them: the encoder only ever saw values in that range, and a mostly
missing row filled from a fixed-scale Gaussian can otherwise feed back ever larger values until
the chain overflows. The estimate and the samples are clipped too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from vaekit.applications.latent_hmc import hmc_chain
from vaekit.core.draws import draw, make_generator
from vaekit.core.inference import decode_mean, posterior_stats
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError, DataError, ModelError

Method = Literal["mwg", "pseudo-gibbs", "hmc"]
METHODS: tuple[str, ...] = ("mwg", "pseudo-gibbs", "hmc")


@dataclass(frozen=True)
class Imputation:
    x: torch.Tensor  # (N, *S) observed entries as given; missing ones the conditional-mean estimate
    samples: torch.Tensor | None  # (N, K, *S) completions from the chains, observed entries as given
    acceptance: torch.Tensor | None  # (N,) fraction of accepted MwG/HMC proposals (None for pseudo-gibbs)
    mask: torch.Tensor  # (N, *S) bool, True = observed


@dataclass(frozen=True)
class _Chain:
    method: str
    steps: int
    burn_in: int
    warmup: int
    keep: tuple[int, ...]  # main-chain steps whose state becomes a sample
    draw_samples: bool
    fill: str
    leapfrog: int
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None  # (low, high) for the filled entries, model units


def impute(
    model: VAE,
    x: torch.Tensor,
    mask: torch.Tensor,
    *,
    method: Method = "hmc",
    steps: int = 100,
    burn_in: int | None = None,
    warmup: int | None = None,
    chains: int = 1,
    leapfrog: int = 5,
    samples: int = 0,
    draw_samples: bool = False,
    fill: Literal["sample", "mean"] = "sample",
    generator: torch.Generator | None = None,
    batch_size: int = 512,
    condition: torch.Tensor | None = None,
    bounds: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Imputation:
    """Fill the entries of ``x`` (N, *S) where ``mask`` (N, *S; True/1 = observed) is False.

    Each of ``chains`` independent chains per example runs ``warmup`` pseudo-Gibbs steps (a start
    near the data: they move fast but are not kept; default 20 for MwG and HMC, 0 for
    pseudo-Gibbs), then ``steps`` steps of ``method``, of which the first ``burn_in`` (default
    steps // 4) are dropped; the estimate averages the rest over all chains. ``fill`` is how
    pseudo-Gibbs refills x_miss (MwG must draw); ``leapfrog`` is the number of leapfrog steps per
    HMC step. ``samples`` (at most chains x (steps - burn_in)) completions are also returned, taken
    at states spread evenly over the kept part of the chains: decoded means, or draws
    x_miss ~ p(x_miss | z_t) with ``draw_samples``. Missing entries of ``x`` may hold anything, NaN
    included. ``generator`` drives every draw (default: seed 0); ``batch_size`` bounds the rows
    (inputs x chains) per pass. ``condition`` (N,) holds each row's
    label for a conditional model. ``bounds`` (low, high), each broadcastable to one example's
    shape (e.g. (D,) for a table), keep the filled entries in a box (see the module docstring).
    The model should be in eval mode (``vaekit.load`` returns one).

    Returns an :class:`Imputation`: ``x`` the conditional-mean estimate with the observed entries
    copied, ``samples`` (N, K, *S) or None, ``acceptance`` (N,) for mwg and hmc, ``mask``.
    """
    if method not in METHODS:
        raise ConfigError(f"unknown imputation method {method!r}: use {' or '.join(METHODS)}")
    burn_in = steps // 4 if burn_in is None else burn_in
    warmup = (0 if method == "pseudo-gibbs" else 20) if warmup is None else warmup
    if steps < 1 or not 0 <= burn_in < steps or warmup < 0 or chains < 1 or leapfrog < 1:
        raise ConfigError(
            f"need steps >= 1, 0 <= burn-in < steps, warmup >= 0, chains >= 1 and leapfrog >= 1; got "
            f"steps={steps}, burn-in={burn_in}, warmup={warmup}, chains={chains}, leapfrog={leapfrog}"
        )
    if not 0 <= samples <= chains * (steps - burn_in):
        raise ConfigError(f"samples={samples}: take at most chains x (steps - burn-in) = {chains * (steps - burn_in)} samples")
    if fill not in ("sample", "mean") or (method != "pseudo-gibbs" and fill != "sample"):
        raise ConfigError(f"fill={fill!r}: fill='mean' is for pseudo-gibbs only; the exact chains must draw x_miss")
    if tuple(mask.shape) != tuple(x.shape):
        raise DataError(f"the mask has shape {tuple(mask.shape)} but the data has shape {tuple(x.shape)}; they must match")
    if tuple(x.shape[1:]) != tuple(model.data_shape):
        raise DataError(f"examples of shape {tuple(x.shape[1:])} do not fit a model of input shape {tuple(model.data_shape)}")
    _check_condition(model, x, condition)
    mask = mask.bool()
    if bool((torch.isnan(x) & mask).any()):
        raise DataError("some entries marked observed are NaN; mark them missing (mask 0) or give their values")
    g = generator if generator is not None else make_generator(0)
    per_chain = -(-samples // chains)  # samples are spread over the chains: sample j from chain j % chains
    keep = tuple(torch.linspace(burn_in, steps - 1, per_chain).round().long().tolist()) if samples else ()
    device = next(model.parameters()).device
    if bounds is not None:
        bounds = (bounds[0].to(device, x.dtype), bounds[1].to(device, x.dtype))
    spec = _Chain(method, steps, burn_in, warmup, keep, draw_samples, fill, leapfrog, bounds)
    rows = max(1, batch_size // chains)
    means, kept, rates = [], [], []
    for i in range(0, x.shape[0], rows):
        xb, mb = x[i : i + rows].to(device), mask[i : i + rows].to(device)  # (B, *S)
        b = xb.shape[0]
        rep = (chains,) + (1,) * (x.dim() - 1)
        cb = None if condition is None else condition[i : i + rows].to(device).repeat(chains, *([1] * (condition.dim() - 1)))
        est, ks, rate = _chain(model, xb.repeat(rep), mb.repeat(rep), spec, g, cb)  # chain c of example j at row c*B + j
        est = _clip(est, bounds)
        ks = None if ks is None else _clip(ks, bounds)
        means.append(torch.where(mb, xb, est.reshape(chains, b, *xb.shape[1:]).mean(0)).cpu())  # (B, *S)
        if ks is not None:  # (C*B, K', *S) -> (B, K' * C, *S): chains interleaved, the first `samples` kept
            data_dims = range(3, 3 + x.dim() - 1)
            ks = ks.reshape(chains, b, len(keep), *xb.shape[1:]).permute(1, 2, 0, *data_dims)  # (B, K', C, *S)
            kept.append(ks.reshape(b, len(keep) * chains, *xb.shape[1:])[:, :samples].cpu())
        if rate is not None:
            rates.append(rate.reshape(chains, b).mean(0))
    return Imputation(
        x=torch.cat(means) if means else x.clone(),
        samples=torch.cat(kept) if kept else None,
        acceptance=torch.cat(rates) if rates else None,
        mask=mask,
    )


@torch.no_grad()
def _chain(
    model: VAE, x: torch.Tensor, m: torch.Tensor, spec: _Chain, g: torch.Generator, c: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """One batch of chains: (estimate (B, *S), kept completions (B, K, *S) | None, acceptance rate (B,) | None);
    ``c`` (B,) the rows' labels for a conditional model."""
    b = x.shape[0]
    pz = model.prior()
    x_hat = torch.where(m, x, torch.zeros_like(x))  # (B, *S) missing entries start at 0
    z = _encode_draw(model, x_hat, c, g, 0)  # (B, D)
    x_hat = torch.where(m, x, _clip(draw(model.decode(z, c), g), spec.bounds))  # a consistent start: x_miss ~ p(x_miss | z)
    for t in range(spec.warmup):  # pseudo-Gibbs: fast moves towards the data, not kept
        z = _encode_draw(model, x_hat, c, g, t + 1)
        x_hat = torch.where(m, x, _clip(draw(model.decode(z, c), g), spec.bounds))
    if spec.method == "hmc":
        return hmc_chain(
            model, x, m, z, steps=spec.steps, burn_in=spec.burn_in, keep=spec.keep, draw_samples=spec.draw_samples,
            leapfrog=spec.leapfrog, g=g, condition=c,
        )  # fmt: skip
    total = torch.zeros_like(x_hat, dtype=torch.float64)  # (B, *S) running sum of E[x | z_t]
    kept: list[torch.Tensor] = []
    accepted = torch.zeros(b, dtype=torch.float64)
    for t in range(spec.steps):
        qz = model.encode(x_hat, c)  # q(z | x̂): batch (B,)
        z_new = _draw_finite(qz, g, spec.warmup + t + 1)  # (B, D)
        if spec.method == "mwg":
            zz = torch.stack([z, z_new])  # (2, B, D) current, proposed
            px2 = model.decode(zz, c)  # batch (2, B)
            log_w = px2.log_prob(x_hat) + pz.log_prob(zz) - qz.log_prob(zz)  # (2, B) log p(x̂|z)p(z)/q(z|x̂)
            log_u = torch.rand(b, generator=g).log().to(x.device)  # (B,)
            accept = log_u < (log_w[1] - log_w[0])  # (B,) MH test of the ratio in the module docstring
            accepted += accept.cpu().double()
            z = torch.where(accept[:, None], z_new, z)  # (B, D)
            sel = accept.reshape(b, *([1] * (x.dim() - 1)))  # (B, 1, ...) broadcasts over S
            mean = _clip(torch.where(sel, px2.mean[1], px2.mean[0]), spec.bounds)  # (B, *S) E[x | z_t]
            both = _clip(draw(px2, g), spec.bounds)  # (2, B, *S)
            x_draw = torch.where(sel, both[1], both[0])  # (B, *S) x ~ p(x | z_t)
        else:  # pseudo-Gibbs: take the proposal
            z = z_new
            px = model.decode(z, c)
            mean = _clip(px.mean, spec.bounds)  # (B, *S)
            x_draw = _clip(draw(px, g), spec.bounds) if spec.fill == "sample" else mean
        x_hat = torch.where(m, x, x_draw)  # observed entries never move
        if t >= spec.burn_in:
            total += mean.double()
        if t in spec.keep:
            kept.append(torch.where(m, x, x_draw if spec.draw_samples else mean))
    estimate = (total / (spec.steps - spec.burn_in)).to(x.dtype)
    samples = torch.stack(kept, 1) if kept else None  # (B, K, *S)
    rate = accepted / spec.steps if spec.method == "mwg" else None
    return estimate, samples, rate


def _clip(v: torch.Tensor, bounds: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """``v`` (..., *S) held in [low, high] (each broadcastable to S); unchanged without bounds."""
    return v if bounds is None else torch.maximum(torch.minimum(v, bounds[1]), bounds[0])


def _encode_draw(model: VAE, x_hat: torch.Tensor, c: torch.Tensor | None, g: torch.Generator, step: int) -> torch.Tensor:
    """z ~ q(z | x̂): (B, D), or a ModelError when the chain has overflowed."""
    return _draw_finite(model.encode(x_hat, c), g, step)


def _draw_finite(qz: torch.distributions.Distribution, g: torch.Generator, step: int) -> torch.Tensor:
    """One draw (B, D) from ``qz``; a chain that overflowed (non-finite codes, or a NaN scale the
    sampler refuses) says so in one line instead of failing inside torch."""
    try:
        z = draw(qz, g)
    except (RuntimeError, ValueError):  # torch.normal: "normal expects all elements of std >= 0.0" for a NaN scale
        z = None
    if z is None or not bool(torch.isfinite(z).all()):
        raise ModelError(
            f"the imputation chain diverged (non-finite latent codes after {step} steps): keep the filled values in the "
            "data's range (tables: data.clip_restored = true), use --method hmc, or a model with a smaller or learned scale"
        )
    return z


def denoise(model: VAE, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> torch.Tensor:
    """The mean of p(x | z) at the posterior mean of q(z | x): (N, *S) -> (N, *S); ``condition``
    (N,) the rows' labels for a conditional model."""
    if tuple(x.shape[1:]) != tuple(model.data_shape):
        raise DataError(f"examples of shape {tuple(x.shape[1:])} do not fit a model of input shape {tuple(model.data_shape)}")
    _check_condition(model, x, condition)
    z = posterior_stats(model, x, batch_size, condition).mean  # (N, D)
    return decode_mean(model, z, batch_size, condition)


def _check_condition(model: VAE, x: torch.Tensor, condition: torch.Tensor | None) -> None:
    if model.conditional and condition is None:
        raise ModelError("this model is conditional: pass condition= (each input's label, (N,)) to restore it given its label")
    if condition is not None and len(condition) != len(x):
        raise ModelError(f"{len(condition)} labels (condition) for {len(x)} inputs; give one per input")
