"""elbo: the ELBO and its terms, one seeded posterior draw per example."""

from __future__ import annotations

import torch

from vaekit.evaluation.likelihood import bits_per_dim, elbo_metrics
from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.registry import METRICS


@METRICS.register("elbo")
class ELBO:
    """The ELBO, reconstruction NLL and KL, in nats and bits/dim."""

    order, default = 1, True

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        e = elbo_metrics(ctx.model, ctx.x, batch_size=ctx.batch_size, generator=generator, condition=ctx.condition)
        shape = tuple(ctx.data.shape)
        summary = {"elbo": e.elbo, "recon_nll": e.recon_nll, "kl": e.kl, "neg_elbo_bpd": bits_per_dim(-e.elbo, shape),
                   "recon_nll_bpd": bits_per_dim(e.recon_nll, shape), "kl_bpd": bits_per_dim(e.kl, shape)}  # fmt: skip
        details = {"elbo": e.elbo, "elbo_stderr": e.elbo_stderr, "recon_nll": e.recon_nll, "kl": e.kl,
                   "samples_per_example": 1, "seed": ctx.seed}  # fmt: skip
        return summary, details
