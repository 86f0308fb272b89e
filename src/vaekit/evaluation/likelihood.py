"""How well the model explains held-out data: the ELBO and its terms, and the importance-weighted
estimate of -log p(x) (Burda et al. 2015), in nats per example and in bits per dimension.

Both are pure functions of (model, x). Draws come from per-example streams (``draws.py``), so the
numbers depend on the seed and never on batch size or k-chunking.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vaekit.core.draws import ExampleStreams, base_seed, posterior_draws
from vaekit.core.elbo import elbo_parts, observed_log_prob, split_missing
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError

ROWS_PER_CHUNK = 4096  # decoder rows (k_chunk x batch) per pass: big GEMMs whose activations stay in cache


def bits_per_dim(nats: float, data_shape: tuple[int, ...]) -> float:
    """nats per example -> bits per data element: nats / (D ln 2), D = number of elements."""
    return nats / (math.prod(data_shape) * math.log(2.0))


@dataclass(frozen=True)
class IWAEResult:
    """-log p(x) estimated with k importance samples per example (an upper bound on the true NLL
    in expectation, tightening as k grows)."""

    per_example: torch.Tensor  # (N,) float64 nats
    mean: float  # nats per example
    stderr: float  # standard error of the mean across examples (not the Monte Carlo error)
    k: int


def _chunks(k: int, batch_size: int | None, k_chunk: int | None) -> tuple[int, int]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"k (importance samples) must be a positive integer, got {k!r}")
    if k_chunk is None:
        k_chunk = min(k, ROWS_PER_CHUNK)
    if batch_size is None:
        batch_size = max(1, ROWS_PER_CHUNK // k_chunk)
    if batch_size < 1 or k_chunk < 1:
        raise ConfigError(f"batch_size and k_chunk must be at least 1, got {batch_size} and {k_chunk}")
    return batch_size, min(k_chunk, k)


@torch.inference_mode()
def iwae_nll(
    model: VAE,
    x: torch.Tensor,
    k: int,
    *,
    batch_size: int | None = None,
    k_chunk: int | None = None,
    generator: torch.Generator | None = None,
    condition: torch.Tensor | None = None,
    progress: Callable[[int], object] | None = None,
) -> IWAEResult:
    """-log p(x) ~ -log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x), for every row of x (N, *shape).

    Work is chunked over examples (``batch_size``) and over samples (``k_chunk``): the decoder sees
    at most ``k_chunk * batch_size`` rows at once, so memory does not grow with k. The log-mean-exp
    is accumulated across k-chunks in float64 (a streaming logsumexp). Defaults pick chunks of
    about 4,096 decoder rows. With the same ``generator`` state the result does not depend on the
    chunking (for Gaussian posteriors; see ``draws.py``). k=1 is the single-sample ELBO estimate
    with a Monte Carlo KL. ``condition`` (N, ...) holds each row's labels for a conditional model.
    ``progress`` is called with the number of rows finished after each batch (a progress bar's ``update``).
    """
    batch_size, k_chunk = _chunks(k, batch_size, k_chunk)
    device = next(model.parameters()).device
    seed = base_seed(generator)
    pz = model.prior()
    n = x.shape[0]
    out = torch.empty(n, dtype=torch.float64)
    for start in range(0, n, batch_size):
        xb, mask = split_missing(x[start : start + batch_size].to(device))  # (B, *shape); NaN = missing, not scored
        cb = None if condition is None else condition[start : start + batch_size].to(device)
        qz = model.encode(xb, cb)
        streams = ExampleStreams(seed, start, xb.shape[0])
        acc = torch.full((xb.shape[0],), -math.inf, dtype=torch.float64, device=device)  # running logsumexp
        for k0 in range(0, k, k_chunk):
            z, log_q = posterior_draws(qz, streams, min(k_chunk, k - k0))  # (c, B, D), (c, B)
            log_w = observed_log_prob(model.decode(z, cb), xb, mask) + pz.log_prob(z) - log_q  # (c, B)
            acc = torch.logaddexp(acc, torch.logsumexp(log_w.double(), 0))  # (B,)
        out[start : start + xb.shape[0]] = -(acc - math.log(k)).cpu()
        if progress is not None:
            progress(xb.shape[0])
    return IWAEResult(per_example=out, mean=float(out.mean()) if n else math.nan, stderr=_stderr(out), k=k)


@dataclass(frozen=True)
class ELBOResult:
    """Per-example means over the evaluated rows, in nats: elbo = -(recon_nll + kl)."""

    elbo: float
    recon_nll: float  # E_q[-log p(x|z)], one posterior draw per example
    kl: float  # KL(q(z|x) || p(z)): closed form where torch has one, else one-draw Monte Carlo
    elbo_stderr: float  # across examples
    per_example: torch.Tensor  # (N,) float64 ELBO of each row
    n: int


@torch.inference_mode()
def elbo_metrics(
    model: VAE,
    x: torch.Tensor,
    *,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
    condition: torch.Tensor | None = None,
) -> ELBOResult:
    """The unweighted (beta = 1) ELBO of every row of x (N, *shape), with one seeded posterior draw."""
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
    device = next(model.parameters()).device
    seed = base_seed(generator)
    recon_all, kl_all = [], []
    for start in range(0, x.shape[0], batch_size):
        xb, mask = split_missing(x[start : start + batch_size].to(device))  # (B, *shape); NaN = missing, not scored
        cb = None if condition is None else condition[start : start + batch_size].to(device)
        qz = model.encode(xb, cb)
        z, _ = posterior_draws(qz, ExampleStreams(seed, start, xb.shape[0]), 1)  # (1, B, D)
        recon, kl, _ = elbo_parts(model, xb, qz, z[0], cb, mask)  # (B,), (B,)
        recon_all.append(recon.double().cpu())
        kl_all.append(kl.double().cpu())
    if not recon_all:
        raise ConfigError("cannot evaluate the ELBO of an empty set of examples")
    recon, kl = torch.cat(recon_all), torch.cat(kl_all)  # (N,), (N,)
    per_example = -(recon + kl)  # (N,)
    return ELBOResult(
        elbo=float(per_example.mean()),
        recon_nll=float(recon.mean()),
        kl=float(kl.mean()),
        elbo_stderr=_stderr(per_example),
        per_example=per_example,
        n=int(per_example.shape[0]),
    )


def _stderr(values: torch.Tensor) -> float:
    n = values.shape[0]
    return float(values.std(unbiased=True) / math.sqrt(n)) if n > 1 else math.nan
