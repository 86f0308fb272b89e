"""Post-hoc samplers: a Gaussian mixture fitted on the aggregate posterior of a trained model.

Sampling z ~ p(z) decodes regions of latent space that the encoder never uses ("holes"); a
mixture fitted to the posterior means of the training data follows where the data really sits
(Ghosh et al. 2020; pythae's GaussianMixtureSampler). Fitting is a post-training step: the mixture
is saved beside the checkpoint as ``sampler_gmm.safetensors`` (weights, means, Cholesky factors;
settings in its JSON metadata), never pickled.

scikit-learn is an optional extra: it is imported only to fit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from vaekit.checkpoint import load_tensors, save_tensors
from vaekit.core.inference import decode_mean, posterior_stats
from vaekit.core.vae import VAE
from vaekit.errors import ConfigError, RunDirError, VaekitError

SAMPLER_FILE = "sampler_gmm.safetensors"


@dataclass(frozen=True)
class GaussianMixtureSampler:
    """A K-component Gaussian mixture over the latent space (D,)."""

    weights: torch.Tensor  # (K,) sums to 1
    means: torch.Tensor  # (K, D)
    scale_tril: torch.Tensor  # (K, D, D) Cholesky factors of the covariances
    covariance: str = "full"  # what was fitted: "full" or "diag"
    fitted_on: int = 0  # examples

    @property
    def components(self) -> int:
        return int(self.weights.shape[0])

    def distribution(self) -> torch.distributions.MixtureSameFamily:
        comps = torch.distributions.MultivariateNormal(self.means, scale_tril=self.scale_tril)
        return torch.distributions.MixtureSameFamily(torch.distributions.Categorical(probs=self.weights), comps)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log density of z (N, D) under the mixture: (N,)."""
        return self.distribution().log_prob(z.to(self.means.dtype))

    def sample_latent(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """(n, D): a component by its weight, then its mean + temperature * L eps."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)  # (n,)
        eps = torch.randn((n, self.means.shape[1]), generator=generator, dtype=self.means.dtype)  # (n, D)
        return self.means[k] + temperature * (self.scale_tril[k] @ eps.unsqueeze(-1)).squeeze(-1)


def fit_gmm_sampler(
    model: VAE,
    x: torch.Tensor,
    components: int = 10,
    *,
    covariance: Literal["full", "diag"] = "full",
    seed: int = 0,
    condition: torch.Tensor | None = None,
    batch_size: int = 1024,
    max_iter: int = 200,
) -> GaussianMixtureSampler:
    """Fit a mixture on the posterior means of ``x`` (N, *data_shape) by EM (scikit-learn)."""
    if components < 1:
        raise ConfigError(f"--components must be at least 1, got {components}")
    if covariance not in ("full", "diag"):
        raise ConfigError(f"covariance must be 'full' or 'diag', got {covariance!r}")
    z = posterior_stats(model, x, batch_size, condition).mean.double()  # (N, D)
    return fit_gmm_codes(z, components, covariance=covariance, seed=seed, max_iter=max_iter)


def fit_gmm_codes(
    z: torch.Tensor,
    components: int = 10,
    *,
    covariance: Literal["full", "diag"] = "full",
    seed: int = 0,
    max_iter: int = 200,
) -> GaussianMixtureSampler:
    """Fit a mixture on latent codes z (N, D) by EM (scikit-learn)."""
    try:
        from sklearn.mixture import GaussianMixture
    except ImportError:
        raise VaekitError("fitting a mixture sampler needs scikit-learn: pip install 'vaekit[all]'") from None
    z = z.double()
    if z.shape[0] < components:
        raise ConfigError(f"cannot fit {components} components on {z.shape[0]} examples; use fewer components")
    gmm = GaussianMixture(components, covariance_type=covariance, random_state=seed, reg_covar=1e-6, max_iter=max_iter)
    gmm.fit(z.numpy())
    cov = torch.as_tensor(gmm.covariances_, dtype=torch.float64)  # (K, D, D) or (K, D)
    tril = torch.linalg.cholesky(cov) if covariance == "full" else torch.diag_embed(cov.sqrt())
    return GaussianMixtureSampler(
        weights=torch.as_tensor(gmm.weights_, dtype=torch.float64),
        means=torch.as_tensor(gmm.means_, dtype=torch.float64),
        scale_tril=tril,
        covariance=covariance,
        fitted_on=int(z.shape[0]),
    )


def save_gmm_sampler(run_dir: str | Path, sampler: GaussianMixtureSampler) -> Path:
    path = Path(run_dir) / SAMPLER_FILE
    meta = {"sampler": json.dumps({"kind": "gmm", "covariance": sampler.covariance, "fitted_on": sampler.fitted_on})}
    tensors = {"weights": sampler.weights, "means": sampler.means, "scale_tril": sampler.scale_tril}
    save_tensors(path, tensors, meta)
    return path


def load_gmm_sampler(run_dir: str | Path) -> GaussianMixtureSampler:
    path = Path(run_dir) / SAMPLER_FILE
    if not path.is_file():
        raise RunDirError(f"{run_dir} has no fitted mixture sampler; run 'vaekit fit-sampler {run_dir}' first")
    tensors, meta = load_tensors(path)
    try:
        info = json.loads(meta["sampler"])
        sampler = GaussianMixtureSampler(
            tensors["weights"], tensors["means"], tensors["scale_tril"], str(info["covariance"]), int(info["fitted_on"])
        )
    except (KeyError, ValueError, TypeError, OverflowError) as e:
        raise RunDirError(f"{path} is not a mixture sampler written by vaekit ({e}); fit it again") from None
    problem = _sampler_problem(sampler)
    if problem:
        raise RunDirError(f"the mixture sampler {path} is damaged ({problem}); fit it again with 'vaekit fit-sampler {run_dir}'")
    return sampler


def _sampler_problem(s: GaussianMixtureSampler) -> str:
    """What makes a loaded mixture unusable, or '' (shapes (K,), (K, D), (K, D, D); finite; weights
    a distribution; Cholesky factors with a positive diagonal)."""
    w, m, L = s.weights, s.means, s.scale_tril
    if not all(t.is_floating_point() for t in (w, m, L)):
        return "its tensors are not floating point"
    if w.dim() != 1 or m.dim() != 2 or L.dim() != 3 or not (w.shape[0] == m.shape[0] == L.shape[0] >= 1):
        return f"shapes {tuple(w.shape)}, {tuple(m.shape)}, {tuple(L.shape)} do not fit together"
    if L.shape[1:] != (m.shape[1], m.shape[1]):
        return f"Cholesky factors of shape {tuple(L.shape)} for {m.shape[1]} dimensions"
    if not all(bool(torch.isfinite(t).all()) for t in (w, m, L)):
        return "NaN or infinite values"
    if bool((w < 0).any()) or abs(float(w.sum()) - 1.0) > 1e-3:
        return "the component weights are not a distribution"
    if not bool((torch.diagonal(L, dim1=-2, dim2=-1) > 0).all()):
        return "a covariance factor is not positive definite"
    return ""


def sample_with_gmm(
    model: VAE,
    sampler: GaussianMixtureSampler,
    n: int,
    *,
    generator: torch.Generator | None = None,
    temperature: float = 1.0,
    mean: bool = True,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """n examples (n, *data_shape): z from the mixture, then the mean of p(x|z) (or a draw)."""
    if sampler.means.shape[1] != model.latent_dim:
        raise RunDirError(
            f"the mixture sampler has {sampler.means.shape[1]} latent dimensions but the model has "
            f"{model.latent_dim}; fit it again with 'vaekit fit-sampler'"
        )
    device = next(model.parameters()).device
    z = sampler.sample_latent(n, generator, temperature).to(device=device, dtype=torch.float32)  # (n, D)
    if model.condition is not None and condition is None:
        condition = model.condition.default(n)
    if mean:
        return decode_mean(model, z, condition=condition)
    with torch.no_grad():
        return model.decode(z, condition).sample()
