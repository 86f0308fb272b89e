"""Anomaly scores and per-pixel anomaly maps from a trained VAE. Higher = more anomalous.

Scores (nats per example):

- ``elbo``  — the negative ELBO, -E_q[log p(x|z)] + KL(q(z|x) || p(z)); the expectation is the
  average over ``samples`` posterior draws (KL in closed form when torch has one).
- ``nll``   — the importance-weighted estimate of -log p(x) with ``k`` samples
  (:func:`vaekit.evaluation.likelihood.iwae_nll`); tighter than the ELBO, k times the cost.
- ``recon`` — the reconstruction error at the posterior mean: -log p(x | z = E_q[z])
  (``recon_metric="nll"``), or the mean squared error between x and E[x | z] (``"mse"``).
  Deterministic: ``samples`` does not apply.
- ``latent`` — -log g(E_q[z|x]): the density of the posterior mean under a Gaussian mixture g
  (``components``, full covariances) fitted by EM to the posterior means of normal data
  (:func:`fit_latent_score`, which ``vaekit detect fit`` calls; the mixture is the one of
  :mod:`vaekit.applications.samplers`) and kept in the settings (``latent``, so in detector.json).
  It flags inputs that reconstruct well (a 1 under a model of 8s: a simple image) but whose
  codes land where normal codes are rare.

Maps: the per-element -log p(x_i | z) averaged over ``samples`` posterior draws; for images
summed over channels, so (N, H, W); for tables (N, D). They need a likelihood that factorises
over elements (``Independent``), which every vaekit likelihood does.

Posterior draws come from one stream per example seeded by (``seed``, the example's index): the
same settings give the same scores, whatever the batch size. A conditional model is scored given
each example's label (``condition``): -log p(x | label) and its bounds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Literal

import torch
from torch.distributions import Distribution, Independent

from vaekit.core.draws import ExampleStreams, make_generator, posterior_draws
from vaekit.core.elbo import elbo_parts
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError, DataError, ModelError, VaekitError

ScoreKind = Literal["elbo", "nll", "recon", "latent"]
ReconMetric = Literal["nll", "mse"]
SCORE_KINDS: tuple[str, ...] = ("elbo", "nll", "recon", "latent")


@dataclass(frozen=True)
class ScoreSettings:
    """How a score is computed; saved in detector.json so scoring repeats the fit exactly."""

    kind: ScoreKind = "elbo"
    samples: int = 8  # posterior draws averaged (elbo score, maps)
    k: int = 256  # importance samples (nll score)
    recon_metric: ReconMetric = "nll"
    seed: int = 0
    batch_size: int = 1024  # decoder rows per pass (examples x samples)
    components: int = 10  # Gaussian mixture components of the latent density (latent score)
    latent: dict | None = None  # the fitted latent density (latent score), set by fit_latent_score

    def check(self) -> ScoreSettings:
        if self.kind not in SCORE_KINDS:
            raise ConfigError(f"unknown anomaly score {self.kind!r}: use {', '.join(SCORE_KINDS)}")
        if self.recon_metric not in ("nll", "mse"):
            raise ConfigError(f"unknown reconstruction metric {self.recon_metric!r}: use nll or mse")
        for name in ("samples", "k", "batch_size", "components"):
            if getattr(self, name) < 1:
                raise ConfigError(f"anomaly score setting {name} must be at least 1, got {getattr(self, name)}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ScoreSettings:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d}).check()

    def describe(self) -> str:
        if self.kind == "nll":
            return f"nll (importance-weighted, k={self.k})"
        if self.kind == "recon":
            return f"recon ({self.recon_metric} at the posterior mean)"
        if self.kind == "latent":
            k = len(self.latent["weights"]) if self.latent else self.components
            return f"latent (-log density of the posterior mean, {k}-component Gaussian mixture)"
        return f"elbo (negative ELBO, {self.samples} posterior samples)"


def anomaly_scores(
    model: VAE, x: torch.Tensor, settings: ScoreSettings | None = None, condition: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, *S) -> (N,) float64 anomaly scores; higher = more anomalous. ``condition`` (N,) holds
    each row's label for a conditional model."""
    s = (settings or ScoreSettings()).check()
    _check_input(model, x, condition)
    if s.kind == "nll":
        return _iwae_nll(model, x, s, make_generator(s.seed), condition)
    if s.kind == "latent":
        return _latent(model, x, s, condition)
    out = []
    rows = _rows(s.batch_size, s.samples if s.kind == "elbo" else 1)
    for i in range(0, x.shape[0], rows):
        xb, cb = x[i : i + rows].to(_device(model)), _rows_of(condition, i, rows, model)
        score = _neg_elbo(model, xb, s.samples, s.seed, i, cb) if s.kind == "elbo" else _recon(model, xb, s.recon_metric, cb)
        out.append(score.cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.float64)


def anomaly_maps(
    model: VAE, x: torch.Tensor, samples: int = 8, seed: int = 0, batch_size: int = 1024, condition: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-element -log p(x|z) averaged over posterior draws: (N, C, H, W) -> (N, H, W), (N, D) -> (N, D)."""
    if samples < 1:
        raise ConfigError(f"anomaly maps need at least 1 posterior sample, got {samples}")
    _check_input(model, x, condition)
    out = []
    rows = _rows(batch_size, samples)
    for i in range(0, x.shape[0], rows):
        xb = x[i : i + rows].to(_device(model))
        out.append(_map(model, xb, samples, seed, i, _rows_of(condition, i, rows, model)).cpu())
    spatial = tuple(x.shape[2:]) if x.dim() == 4 else tuple(x.shape[1:])
    return torch.cat(out) if out else torch.empty(0, *spatial)


def fit_latent_score(
    model: VAE, x: torch.Tensor, settings: ScoreSettings, condition: torch.Tensor | None = None
) -> ScoreSettings:
    """``settings`` with the latent density fitted to the posterior means of normal examples x (N, *S).

    Other score kinds are returned unchanged, so callers can apply it to any settings."""
    s = settings.check()
    if s.kind != "latent":
        return s
    _check_input(model, x, condition)
    return _fit_codes(s, _codes(model, x, s, condition))


def threshold_scores(
    model: VAE, x: torch.Tensor, settings: ScoreSettings, condition: torch.Tensor | None = None, folds: int = 5
) -> torch.Tensor:
    """Scores of normal examples x (N, *S) to set a detector's threshold from: (N,).

    For the scores computed from the model alone this is ``anomaly_scores``. The latent score's
    density is fitted on these same examples, and an example scored by a density fitted on it
    looks more normal than a new one would, so a threshold set on it flags more than the
    contamination rate on new data. Here each of ``folds`` random parts is scored by a density
    fitted on the other parts (cross-fitting), which is what a new example sees. The bias matters
    with few examples per component: with 8 components on 120 one-dimensional codes, a 10% threshold
    set in-sample flagged 9-23% of fresh normal data (mean error 5.9 points over 5 seeds), a
    cross-fitted one 6-11% (2.4 points); with 1,000 codes both are within 2 points."""
    s = settings.check()
    if s.kind != "latent":
        return anomaly_scores(model, x, s, condition=condition)
    _check_input(model, x, condition)
    z = _codes(model, x, s, condition)  # (N, D), encoded once for every fold
    n = z.shape[0]
    if folds < 2 or n - n // folds < 2 * s.components:  # too few to split: in-sample
        return -_mixture(s if s.latent is not None else _fit_codes(s, z), model).log_prob(z)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(s.seed))
    out = torch.empty(n, dtype=torch.float64)
    for part in torch.tensor_split(order, folds):
        rest = torch.ones(n, dtype=torch.bool)
        rest[part] = False
        out[part] = -_mixture(_fit_codes(s, z[rest]), model).log_prob(z[part])
    return out


# ---------------------------------------------------------------- the pieces


def _codes(model: VAE, x: torch.Tensor, s: ScoreSettings, condition: torch.Tensor | None) -> torch.Tensor:
    """The posterior means of x: (N, D) float64, what the latent score's density lives on."""
    from vaekit.core.inference import posterior_stats

    return posterior_stats(model, x, s.batch_size, condition).mean.double()


def _fit_codes(s: ScoreSettings, z: torch.Tensor) -> ScoreSettings:
    from vaekit.applications.samplers import fit_gmm_codes

    gmm = fit_gmm_codes(z, s.components, seed=s.seed)
    return replace(
        s, latent={"weights": gmm.weights.tolist(), "means": gmm.means.tolist(), "scale_tril": gmm.scale_tril.tolist()}
    )


def _mixture(s: ScoreSettings, model: VAE):
    """The fitted latent density of ``s``, checked against ``model``."""
    from vaekit.applications.samplers import GaussianMixtureSampler

    if s.latent is None:
        raise ConfigError(
            "the latent score needs a latent density fitted on normal data first: "
            "vaekit detect fit RUN_DIR --score latent (or fit_latent_score(model, x_normal, settings))"
        )
    try:
        w, mu, tril = (torch.tensor(s.latent[k], dtype=torch.float64) for k in ("weights", "means", "scale_tril"))
        gmm = GaussianMixtureSampler(w, mu, tril)
        gmm.distribution()  # checks the shapes
    except (KeyError, TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"the saved latent density is damaged ({e}); fit the detector again") from None
    if mu.shape[1] != model.latent_dim:
        raise ModelError(
            f"the latent density was fitted on {mu.shape[1]}-dimensional codes but the model has {model.latent_dim}; "
            "fit the detector again for this model"
        )
    return gmm


def _latent(model: VAE, x: torch.Tensor, s: ScoreSettings, condition: torch.Tensor | None) -> torch.Tensor:
    gmm = _mixture(s, model)  # before encoding: a missing or damaged density fails fast
    return -gmm.log_prob(_codes(model, x, s, condition))  # (N,)


@torch.inference_mode()
def _neg_elbo(model: VAE, x: torch.Tensor, samples: int, seed: int, start: int, c: torch.Tensor | None) -> torch.Tensor:
    qz = model.encode(x, c)  # batch (B,)
    z, _ = posterior_draws(qz, ExampleStreams(seed, start, x.shape[0]), samples)  # (S, B, D)
    recon, kl, _ = elbo_parts(model, x, qz, z, c)  # (S, B); (B,) closed form, or (S, B) Monte Carlo
    kl = kl.mean(0) if kl.dim() == 2 else kl
    return recon.double().mean(0) + kl.double()  # (B,)


@torch.inference_mode()
def _recon(model: VAE, x: torch.Tensor, metric: str, c: torch.Tensor | None) -> torch.Tensor:
    px = model.decode(model.encode(x, c).mean, c)  # p(x | z = E_q[z]), batch (B,)
    if metric == "mse":
        return (px.mean - x).double().pow(2).flatten(1).mean(1)  # (B,)
    return -px.log_prob(x).double()  # (B,)


@torch.inference_mode()
def _map(model: VAE, x: torch.Tensor, samples: int, seed: int, start: int, c: torch.Tensor | None) -> torch.Tensor:
    z, _ = posterior_draws(model.encode(x, c), ExampleStreams(seed, start, x.shape[0]), samples)  # (S, B, D)
    nll = -_elementwise(model.decode(z, c)).log_prob(x).mean(0)  # (B, *S_data)
    return nll.sum(1) if x.dim() == 4 else nll  # (B, H, W) summed over channels, or (B, D)


def _elementwise(px: Distribution) -> Distribution:
    if not isinstance(px, Independent):
        raise ModelError(f"per-element anomaly maps need a likelihood that factorises over elements; got {type(px).__name__}")
    return px.base_dist


def _iwae_nll(model: VAE, x: torch.Tensor, s: ScoreSettings, g: torch.Generator, c: torch.Tensor | None) -> torch.Tensor:
    try:
        from vaekit.evaluation.likelihood import iwae_nll
    except ImportError as e:  # the evaluation package is a sibling layer and may be absent in a slim build
        raise VaekitError(f"the nll score needs vaekit.evaluation.likelihood.iwae_nll, which is not available ({e})") from e
    # chunking is left to iwae_nll; it does not change the numbers
    result = iwae_nll(model, x, s.k, batch_size=None, k_chunk=None, generator=g, condition=c)
    return result.per_example.double().cpu()  # (N,)


def _rows(batch_size: int, samples: int) -> int:
    """Examples per batch so that samples * rows stays near batch_size decoder rows."""
    return max(1, batch_size // max(1, samples)) if samples > 1 else batch_size


def _device(model: VAE) -> torch.device:
    return next(model.parameters()).device


def _rows_of(condition: torch.Tensor | None, start: int, rows: int, model: VAE) -> torch.Tensor | None:
    return None if condition is None else condition[start : start + rows].to(_device(model))


def _check_input(model: VAE, x: torch.Tensor, condition: torch.Tensor | None) -> None:
    if tuple(x.shape[1:]) != tuple(model.data_shape):
        raise ModelError(f"examples of shape {tuple(x.shape[1:])} do not fit a model of input shape {tuple(model.data_shape)}")
    if model.conditional and condition is None:
        raise ModelError("this model is conditional: pass condition= (each example's label, (N,)) to score p(x | label)")
    if condition is not None and len(condition) != len(x):
        raise ModelError(f"{len(condition)} labels (condition) for {len(x)} examples; give one per example")
    if bool(torch.isnan(x).any()):
        raise DataError("the data has missing (NaN) entries; fill them first (vaekit inpaint) or drop those rows")
