"""Reconstruction quality at the posterior mean: MSE, PSNR and SSIM.

x_hat = mean of p(x | z = E_q[z|x]). PSNR and SSIM take images in [0, 1] (``data_range`` 1).
SSIM is Wang et al. (2004): an 11x11 Gaussian window with sigma 1.5, K1 = 0.01, K2 = 0.03,
population (not sample) statistics, averaged over the valid window positions, the channels and
the images; this is scikit-image's ``structural_similarity(..., gaussian_weights=True,
use_sample_covariance=False, data_range=1)``. Images smaller than 11 pixels use the largest odd
window that fits (recorded in the report).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vaekit.core.vae import VAE

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
PSNR_CAP = 100.0  # dB for a perfect reconstruction (MSE 0)


def gaussian_window(size: int, sigma: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Normalised 1-D Gaussian kernel (size,); the 2-D window is its outer product."""
    r = torch.arange(size, dtype=dtype) - (size - 1) / 2  # (size,)
    g = torch.exp(-(r**2) / (2 * sigma**2))
    return g / g.sum()


def ssim_window_size(h: int, w: int) -> int:
    size = min(SSIM_WINDOW, h, w)
    return size if size % 2 == 1 else size - 1


def ssim(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-image SSIM of two image batches (N, C, H, W) -> (N,) float64."""
    if x.shape != y.shape or x.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) batches of one shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    n, c, h, w = x.shape
    size = ssim_window_size(h, w)
    g = gaussian_window(size, SSIM_SIGMA)  # (s,)
    rows, cols = g.view(1, 1, size, 1).expand(c, 1, size, 1), g.view(1, 1, 1, size).expand(c, 1, 1, size)
    x, y = x.double(), y.double()

    def filt(t: torch.Tensor) -> torch.Tensor:
        # separable depthwise Gaussian, valid windows only: (N, C, H-s+1, W-s+1)
        return F.conv2d(F.conv2d(t, rows, groups=c), cols, groups=c)

    mu_x, mu_y = filt(x), filt(y)
    var_x = filt(x * x) - mu_x**2
    var_y = filt(y * y) - mu_y**2
    cov = filt(x * y) - mu_x * mu_y
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return s.mean((1, 2, 3))  # (N,)


def psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Per-example PSNR in dB, (N, ...) -> (N,) float64; capped at PSNR_CAP for identical examples."""
    mse = (x.double() - y.double()).pow(2).flatten(1).mean(1)  # (N,)
    out = 10.0 * torch.log10(data_range**2 / mse.clamp_min(1e-300))
    return out.clamp(max=PSNR_CAP)


@dataclass(frozen=True)
class ReconResult:
    mse: float  # mean over examples and elements
    psnr: float | None  # mean per-image PSNR (dB); images only
    ssim: float | None  # mean per-image SSIM; images only
    ssim_window: int | None
    n: int


def _mean(parts: list[torch.Tensor]) -> float | None:
    """The mean over the concatenated (B,) parts; None when there are none."""
    return float(torch.cat(parts).mean()) if parts else None


@torch.inference_mode()
def reconstruction_metrics(
    model: VAE, x: torch.Tensor, *, batch_size: int = 1000, images: bool = True, condition: torch.Tensor | None = None
) -> ReconResult:
    """MSE, PSNR and SSIM of the reconstructions of the rows of x (N, *shape); PSNR and SSIM only
    for images (``images`` and x of shape (N, C, H, W)), in [0, 1]."""
    device = next(model.parameters()).device
    is_image = images and x.dim() == 4
    sq: list[torch.Tensor] = []  # (B,) per batch: mean squared error, PSNR, SSIM per example
    ps: list[torch.Tensor] = []
    ss: list[torch.Tensor] = []
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size].to(device)  # (B, *shape)
        cb = None if condition is None else condition[start : start + batch_size].to(device)
        observed = ~torch.isnan(xb)  # NaN = missing: compared on the observed entries only
        xb = torch.nan_to_num(xb)
        x_hat = model.decode(model.encode(xb, cb).mean, cb).mean  # (B, *shape)
        err = ((x_hat.double() - xb.double()).pow(2) * observed).flatten(1).sum(1)  # (B,)
        sq.append((err / observed.flatten(1).sum(1).clamp(min=1)).cpu())  # (B,) mean over observed entries
        if is_image:
            ps.append(psnr(x_hat.clamp(0, 1), xb).cpu())
            ss.append(ssim(x_hat.clamp(0, 1), xb).cpu())
    n = x.shape[0]
    return ReconResult(
        mse=float(torch.cat(sq).mean()) if sq else math.nan,
        psnr=_mean(ps),
        ssim=_mean(ss),
        ssim_window=ssim_window_size(x.shape[-2], x.shape[-1]) if is_image else None,
        n=n,
    )
