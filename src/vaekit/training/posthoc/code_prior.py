"""A VQ model's code prior becomes the training set's per-position code frequencies."""

from __future__ import annotations

from pathlib import Path

import torch

from vaekit.checkpoint import MODEL, load_tensors, save_tensors
from vaekit.config import RunConfig
from vaekit.core import VAE
from vaekit.data import DataSplits, dynamic_binarize
from vaekit.registry import POSTHOC


@POSTHOC.register("code-prior")
class CodePriorFit:
    """Fit the code prior of a codebook posterior on the training split, saved into the best weights
    (so ``vaekit.load`` and ``vaekit sample`` draw from it). The training state is left as it was,
    so a resumed run continues exactly."""

    @staticmethod
    def applies(cfg: RunConfig) -> bool:
        return cfg.model.posterior.kind == "vq" and not cfg.model.latent_dims

    @staticmethod
    def fit(out: Path, model: VAE, cfg: RunConfig, data: DataSplits) -> None:
        from vaekit.core.posteriors.vq import fit_code_prior

        x = data.train.x
        if cfg.data.binarize == "dynamic":
            x = dynamic_binarize(x, torch.Generator().manual_seed(cfg.data.seed + 11))
        y = data.train.y if cfg.model.conditional else None
        n = fit_code_prior(model, x, cfg.train.eval_batch_size, y)
        _, meta = load_tensors(out / MODEL)
        save_tensors(out / MODEL, model.state_dict(), {**meta, "code_prior": f"code frequencies of {n} training examples"})
