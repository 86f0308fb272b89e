"""Posterior collapse, diagnosed at the end of training.

A collapsed VAE's decoder ignores z: q(z|x) equals the prior for every x, so the KL term is near
zero and no latent unit is active (Burda et al.'s activity Cov_x(E_q[z_d]) > 0.01 for none of
them). Training then looks fine — the loss goes down — but samples and codes carry nothing. The
usual remedies: KL warm-up, free bits, a smaller (or learned) fixed scale for Gaussian/Laplace
likelihoods (a scale of 1 on [0, 1] pixels makes every reconstruction nearly free), and a weaker
decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from vaekit.config import RunConfig
from vaekit.core.inference import posterior_stats

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

KL_NEAR_ZERO = 0.5  # nats per example, the whole latent: below this the codes say almost nothing
ACTIVE = 0.01  # Burda et al.'s activity threshold


@dataclass(frozen=True)
class Collapse:
    kl: float  # validation KL at the best epoch, nats per example
    active: int | None  # latent units with activity above ACTIVE (None: not measurable for this posterior)
    latent_dim: int


def measure(model: VAE, x: torch.Tensor, kl: float, condition: torch.Tensor | None = None) -> Collapse:
    """KL (from the metrics) and active units of ``model`` on ``x`` (N, *shape)."""
    active = None
    try:
        mean = posterior_stats(model, x, condition=condition).mean  # (N, D)
    except (AttributeError, NotImplementedError, RuntimeError):  # a posterior without a mean (e.g. discrete codes)
        mean = None
    if mean is not None and mean.shape[0] > 1:
        active = int((mean.double().var(0) > ACTIVE).sum())
    return Collapse(kl=kl, active=active, latent_dim=int(model.latent_dim))


def collapse_note(c: Collapse, cfg: RunConfig) -> str | None:
    """One line naming the collapse and the remedies that apply to ``cfg``, or None when the codes are used."""
    if not (c.kl < KL_NEAR_ZERO or c.active == 0):
        return None
    m, t = cfg.model, cfg.train
    remedies = []
    if t.kl_warmup_epochs == 0:
        remedies.append("KL warm-up (--set train.kl_warmup_epochs=10)")
    if t.free_bits == 0:
        remedies.append("free bits (train.free_bits=0.5)")
    if m.likelihood.kind in ("gaussian", "laplace"):
        set_scale = m.likelihood.options.scale
        scale = "its default" if set_scale is None else f"{set_scale:g}"
        remedies.append(
            f'a smaller fixed scale than {scale} (--set model.likelihood.scale=0.05) or model.likelihood="gaussian-learned"'
        )
    remedies.append("a weaker decoder (narrower model.hidden / model.channels)")
    if t.beta > 1:
        remedies.insert(0, f"a smaller train.beta than {t.beta:g}")
    units = "" if c.active is None else f", {c.active} of {c.latent_dim} latent units active"
    return f"posterior collapse: validation KL {c.kl:.2f} nats{units}, so the decoder ignores z; try " + ", ".join(remedies)


def diagnose_run(run_dir, limit: int = 2000) -> str | None:
    """:func:`collapse_note` for a finished run directory: the KL of its best epoch and the activity of its
    best weights on (at most ``limit``) validation examples; None when it did not collapse or cannot tell."""
    from vaekit.checkpoint import RunDir
    from vaekit.data.streaming import StreamedSplits, open_data

    run = RunDir(run_dir)
    history = run.metrics()
    best = run.train_state().get("best_epoch")
    row = next((r for r in history if r.get("epoch") == best), history[-1] if history else None)
    if row is None or row.get("val_kl") is None:
        return None
    data = open_data(run.config.data)
    if isinstance(data, StreamedSplits):
        data = data.preview(limit)
    part = data.validation if len(data.validation) else data.train
    model = run.load_model()
    y = part.y[:limit] if getattr(model, "conditional", False) and part.y is not None else None
    scaler = run.scaler()
    x = part.x[:limit]
    if scaler is not None and data.scaler is not None and scaler != data.scaler:
        x = scaler.transform(data.scaler.inverse(x))
    x = x.nan_to_num(0.0)  # missing table cells are fed as 0, as in training
    return collapse_note(measure(model, x, float(row["val_kl"]), y), run.config)
