"""mi: the mutual information I(x; z) under the aggregate posterior of the evaluated set."""

from __future__ import annotations

import torch

from vaekit.core.draws import gaussian_parts
from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.evaluation.posterior import mutual_information
from vaekit.registry import METRICS


@METRICS.register("mi")
class MutualInformation:
    """I(x; z) estimated over the full set (capped at log N); needs a diagonal-Gaussian posterior."""

    order, default = 4, True

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        device = next(ctx.model.parameters()).device
        c1 = None if ctx.condition is None else ctx.condition[:1].to(device)
        if gaussian_parts(ctx.model.encode(torch.nan_to_num(ctx.x[:1].to(device), nan=0.0), c1)) is None:
            return {}, {"skipped": "the estimate needs a diagonal-Gaussian posterior"}
        m = mutual_information(ctx.model, ctx.x, batch_size=ctx.batch_size, generator=generator, condition=ctx.condition)
        return {"mi": m.mi}, {"mi": m.mi, "max": m.max, "n": m.n, "estimator": "full-set aggregate posterior", "seed": ctx.seed}
