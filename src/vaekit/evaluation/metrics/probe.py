"""probe: logistic-regression accuracy on the latent means (how linearly the labels can be read)."""

from __future__ import annotations

import dataclasses

import torch

from vaekit.data import Split
from vaekit.evaluation.metrics import MetricContext, Result
from vaekit.evaluation.probe import linear_probe
from vaekit.registry import METRICS


@METRICS.register("probe")
class Probe:
    """A linear probe trained on the training split's latent means, scored on the evaluated split."""

    order, default = 6, False

    @staticmethod
    def run(ctx: MetricContext, generator: torch.Generator) -> Result:
        train = ctx.data.train.x
        if ctx.binarize_seed is not None and not bool(((train == 0) | (train == 1)).all()):
            train = torch.bernoulli(train, generator=torch.Generator().manual_seed(ctx.binarize_seed + 1))
        pr = linear_probe(ctx.model, Split(train, ctx.data.train.y), Split(ctx.x, ctx.part.y), batch_size=ctx.batch_size,
                          max_train=ctx.probe_max_train, seed=ctx.seed, conditional=ctx.model.conditional)  # fmt: skip
        return {"probe_accuracy": pr.accuracy}, {**dataclasses.asdict(pr), "max_train": ctx.probe_max_train, "seed": ctx.seed}
