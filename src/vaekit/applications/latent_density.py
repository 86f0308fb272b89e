"""The ``latent`` anomaly score: how unusual an input's code is among the codes of normal data.

An input x is encoded to its posterior mean E_q[z | x]; its score is -log g(E_q[z | x]), where g is
a Gaussian mixture fitted (by scikit-learn's EM) to the posterior means of normal data. Inputs the
model has never seen may still be reconstructed well (an MNIST model of 8s reconstructs a 1 well: it
is a simple image), but their codes land where normal codes are rare, which this score sees.

The fitted mixture is part of the score's settings (``ScoreSettings.latent``), so it is saved in
``detector.json`` with the threshold and scoring repeats the fit exactly, without scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from vaekit.errors import ConfigError, ModelError, VaekitError


@dataclass(frozen=True)
class LatentGMM:
    """A Gaussian mixture over posterior means: weights (K,), means (K, D), covariances (K, D, D)."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    covariances: tuple[tuple[tuple[float, ...], ...], ...]

    @property
    def dim(self) -> int:
        return len(self.means[0])

    def distribution(self) -> MixtureSameFamily:
        w = torch.tensor(self.weights, dtype=torch.float64)
        mu = torch.tensor(self.means, dtype=torch.float64)
        cov = torch.tensor(self.covariances, dtype=torch.float64)
        return MixtureSameFamily(Categorical(probs=w / w.sum()), MultivariateNormal(mu, covariance_matrix=cov))

    def neg_log_density(self, z: torch.Tensor) -> torch.Tensor:
        """(N, D) codes -> (N,) float64 -log g(z)."""
        if z.dim() != 2 or z.shape[1] != self.dim:
            raise ModelError(
                f"the latent density was fitted on {self.dim}-dimensional codes, got codes of shape {tuple(z.shape)}; "
                "fit the detector again for this model"
            )
        return -self.distribution().log_prob(z.detach().double().cpu())

    def to_dict(self) -> dict[str, Any]:
        return {"weights": list(self.weights), "means": [list(m) for m in self.means],
                "covariances": [[list(r) for r in c] for c in self.covariances]}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LatentGMM:
        try:
            gmm = cls(
                tuple(float(w) for w in d["weights"]),
                tuple(tuple(float(v) for v in m) for m in d["means"]),
                tuple(tuple(tuple(float(v) for v in r) for r in c) for c in d["covariances"]),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigError(f"the saved latent density is damaged ({e}); fit the detector again") from None
        k, dim = len(gmm.weights), gmm.dim if gmm.means else 0
        if k == 0 or len(gmm.means) != k or len(gmm.covariances) != k or any(len(c) != dim for c in gmm.covariances):
            raise ConfigError("the saved latent density has inconsistent shapes; fit the detector again")
        return gmm

    @classmethod
    def fit(cls, z: torch.Tensor, components: int = 10, seed: int = 0, reg_covar: float = 1e-4) -> LatentGMM:
        """EM fit of a full-covariance mixture to codes z (N, D); ``components`` is capped at N // 2."""
        try:
            from sklearn.mixture import GaussianMixture
        except ImportError:
            raise VaekitError("the latent anomaly score needs scikit-learn: pip install 'vaekit[sklearn]'") from None
        if components < 1:
            raise ConfigError(f"the latent score needs at least 1 mixture component, got {components}")
        a = z.detach().double().cpu().numpy()
        if a.ndim != 2 or a.shape[0] < 2:
            raise ConfigError(f"fitting a latent density needs at least 2 examples, got {a.shape[0] if a.ndim else 0}")
        k = max(1, min(components, a.shape[0] // 2))
        # reg_covar is relative to the codes' overall variance, so the floor does not depend on their scale
        reg = reg_covar * max(float(a.var(0).mean()), 1e-12)
        g = GaussianMixture(k, covariance_type="full", reg_covar=reg, random_state=seed, n_init=1, max_iter=200).fit(a)
        return cls(
            tuple(float(w) for w in g.weights_),
            tuple(tuple(float(v) for v in m) for m in g.means_),
            tuple(tuple(tuple(float(v) for v in r) for r in c) for c in g.covariances_),
        )


@torch.inference_mode()
def posterior_means(model, x: torch.Tensor, batch_size: int = 1024, condition: torch.Tensor | None = None) -> torch.Tensor:
    """(N, *S) -> (N, D) float64 posterior means E_q[z | x], in batches."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device)
        cb = None if condition is None else condition[i : i + batch_size].to(device)
        qz = model.encode(xb, cb)
        out.append(qz.mean.reshape(xb.shape[0], -1).double().cpu())
    return torch.cat(out) if out else torch.empty(0, 0, dtype=torch.float64)
