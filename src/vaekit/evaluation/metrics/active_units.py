"""active-units: latent dimensions whose posterior mean varies across the data (Burda et al.)."""

from __future__ import annotations

import torch

from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.evaluation.posterior import posterior_diagnostics
from vaekit.registry import METRICS


@METRICS.register("active-units")
class ActiveUnits:
    """Cov_x(E_q[z]) > 0.01 per dimension, with the per-dimension KL."""

    order, default = 3, True

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        p = posterior_diagnostics(ctx.model, ctx.x, batch_size=ctx.batch_size, condition=ctx.condition)
        details = {"active_units": p.active_units, "latent_dim": p.latent_dim, "threshold": p.threshold,
                   "activity": p.activity, "kl_per_dim": p.kl_per_dim}  # fmt: skip
        return {"active_units": float(p.active_units)}, details
