"""fd: Fréchet distance and precision/recall of samples in a feature space."""

from __future__ import annotations

import dataclasses

import torch

from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.evaluation.sample_quality import sample_quality
from vaekit.registry import METRICS


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


@METRICS.register("fd")
class FrechetDistance:
    """Fréchet distance with precision/recall (Kynkäänniemi et al.) of generated against real examples."""

    order, default = 5, False

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        mode = ("draw" if _is_binary(ctx.x) else "mean") if ctx.sample_mode == "auto" else ctx.sample_mode
        assert ctx.extractor is not None and ctx.extractor_id is not None
        sq = sample_quality(ctx.model, ctx.x, ctx.extractor, ctx.extractor_id, n_generated=ctx.n_generated, sample_mode=mode,
                            generator=generator, batch_size=ctx.batch_size)  # fmt: skip
        details = {**dataclasses.asdict(sq), "seed": ctx.seed, "extractor": ctx.extractor_info}
        return {"fd": sq.fd, "precision": sq.precision, "recall": sq.recall}, details
