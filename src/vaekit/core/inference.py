"""Running a trained model over a whole dataset in batches, without gradients."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.core.vae import VAE


@dataclass(frozen=True)
class PosteriorStats:
    mean: torch.Tensor  # (N, D) E_q[z]
    stddev: torch.Tensor  # (N, D)


@torch.inference_mode()
def posterior_stats(model: VAE, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> PosteriorStats:
    """Mean and standard deviation of q(z|x) for every row of ``x`` (N, *data_shape); ``condition``
    holds the rows' labels for a conditional model. Missing entries (NaN) are read as 0, as in training."""
    device = next(model.parameters()).device
    means, stds = [], []
    for i in range(0, x.shape[0], batch_size):
        c = None if condition is None else condition[i : i + batch_size].to(device)
        qz = model.encode(torch.nan_to_num(x[i : i + batch_size].to(device), nan=0.0), c)
        means.append(qz.mean.cpu())
        stds.append(qz.stddev.cpu())
    d = model.latent_dim
    if not means:
        return PosteriorStats(torch.empty(0, d), torch.empty(0, d))
    return PosteriorStats(torch.cat(means), torch.cat(stds))


@torch.inference_mode()
def decode_mean(model: VAE, z: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of p(x|z) for every row of ``z`` (N, D) -> (N, *data_shape)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, z.shape[0], batch_size):
        c = None if condition is None else condition[i : i + batch_size].to(device)
        out.append(model.decode(z[i : i + batch_size].to(device), c).mean.cpu())
    return torch.cat(out) if out else torch.empty(0, *model.data_shape)
