"""recon: reconstruction error at the posterior mean (MSE; PSNR and SSIM for images)."""

from __future__ import annotations

import torch

from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.evaluation.reconstruction import reconstruction_metrics
from vaekit.registry import METRICS


@METRICS.register("recon")
class Recon:
    """MSE, PSNR and SSIM of the decoded posterior mean."""

    order, default = 2, True

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        rc = reconstruction_metrics(
            ctx.model, ctx.x, batch_size=ctx.batch_size, images=ctx.data.kind == "image", condition=ctx.condition
        )
        summary = {"mse": rc.mse}
        if rc.psnr is not None and rc.ssim is not None:  # images: both, or neither
            summary.update(psnr=rc.psnr, ssim=rc.ssim)
        details = {"mse": rc.mse, "psnr": rc.psnr, "ssim": rc.ssim, "ssim_window": rc.ssim_window, "data_range": 1.0,
                   "at": "posterior mean"}  # fmt: skip
        return summary, details
