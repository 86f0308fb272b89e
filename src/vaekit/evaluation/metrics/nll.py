"""nll: the importance-weighted estimate of -log p(x) with k samples (Burda et al. 2015)."""

from __future__ import annotations

import torch

from vaekit.evaluation.likelihood import bits_per_dim, iwae_nll
from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.registry import METRICS


@METRICS.register("nll")
class NLL:
    """-log p(x) by importance sampling, nats and bits/dim, with its standard error."""

    order, default = 0, True

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        rows = ctx.rows_bar(f"nll, k={ctx.k}")
        r = iwae_nll(ctx.model, ctx.x, ctx.k, batch_size=ctx.iw_batch_size, k_chunk=ctx.k_chunk, generator=generator,
                     condition=ctx.condition, progress=None if rows is None else rows.update)  # fmt: skip
        if rows is not None:
            rows.close()
        bpd = bits_per_dim(r.mean, tuple(ctx.data.shape))
        details = {"mean": r.mean, "stderr": r.stderr, "bits_per_dim": bpd, "k": ctx.k, "batch_size": ctx.iw_batch_size,
                   "k_chunk": ctx.k_chunk, "seed": ctx.seed}  # fmt: skip
        return {"nll": r.mean, "nll_stderr": r.stderr, "nll_bpd": bpd}, details
