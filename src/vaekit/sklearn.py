"""scikit-learn estimators over a vaekit VAE for tables: ``VAETransformer`` and ``VAEOutlierDetector``.

    from sklearn.pipeline import make_pipeline
    from vaekit.sklearn import VAETransformer, VAEOutlierDetector

    Z = VAETransformer(latent_dim=2, epochs=50).fit_transform(X)        # (N, 2) posterior means
    det = VAEOutlierDetector(contamination=0.05).fit(X_train)
    det.predict(X_new)                                                    # +1 inlier, -1 outlier

Both follow scikit-learn's conventions (constructor stores parameters unchanged, ``get_params`` /
``set_params``, fitted attributes end in ``_``, input checked by ``sklearn.utils.validation``), so
they work in ``Pipeline`` and ``GridSearchCV``. ``fit`` standardises the columns, trains with
``vaekit.training.loop.fit`` in a temporary directory that is deleted afterwards, and keeps the
best-ELBO model in memory. Pickling an estimator (pickle, joblib) is the user's own choice, as for
any scikit-learn object; the VAE inside is stored as safetensors bytes, not as pickled modules.
"""

from __future__ import annotations

import math
import numbers
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.errors import ConfigError, VaekitError

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, OutlierMixin, TransformerMixin
    from sklearn.utils.validation import check_array, check_is_fitted
except ImportError as e:  # pragma: no cover - depends on the installation
    raise VaekitError("vaekit.sklearn needs scikit-learn: pip install 'vaekit[sklearn]'") from e

LIKELIHOODS = ("gaussian-learned", "gaussian", "laplace", "bernoulli")
_EVAL_BATCH = 1024


class EstimatorParamError(ConfigError, ValueError):
    """A bad estimator parameter: a vaekit ConfigError that is also the ValueError scikit-learn expects."""


def _validate(est: BaseEstimator, X: Any, reset: bool) -> np.ndarray:
    """check_array plus n_features_in_ / feature_names_in_ bookkeeping (set on fit, checked after)."""
    try:
        from sklearn.utils.validation import validate_data  # scikit-learn >= 1.6
    except ImportError:  # pragma: no cover - older scikit-learn
        return est._validate_data(X, reset=reset, dtype=[np.float64, np.float32])
    return validate_data(est, X, reset=reset, dtype=[np.float64, np.float32])


def _int(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise EstimatorParamError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _float(name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value > high or value < low or (low_open and value == low):
        side = "(" if low_open else "["
        raise EstimatorParamError(f"{name} must be a number in {side}{low}, {high}], got {value!r}")
    return float(value)


@torch.inference_mode()
def elbo_scores(model: torch.nn.Module, x: torch.Tensor, samples: int, seed: int, batch_size: int = _EVAL_BATCH) -> torch.Tensor:
    """Per-example ELBO (N,): E_q[log p(x|z)] by ``samples`` draws z = mu + sigma * eps, minus the
    closed-form KL. The eps (samples, D) are the same for every example (common random numbers),
    so a row's score does not depend on which other rows are scored with it."""
    from vaekit.core.objectives import kl_terms

    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(samples, model.latent_dim, generator=gen, dtype=torch.float64).to(device, x.dtype)  # (S, D)
    pz = model.prior()
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device)  # (B, F)
        qz = model.encode(xb)
        z = qz.mean + qz.stddev * eps[:, None]  # (S, B, D)
        recon = model.decode(z).log_prob(xb)  # (S, B)
        kl, _ = kl_terms(qz, pz, z[0])  # (B,)
        out.append((recon.mean(0) - kl).cpu())
    return torch.cat(out) if out else torch.empty(0)


class _VAEEstimator(BaseEstimator):
    """Training, the in-memory model and pickling, shared by both estimators."""

    def _fit_vae(self, X: Any) -> None:
        """Validate X, fit the scaler and the VAE (``scaler_``, ``config_``, ``model_``, ``history_``)."""
        from vaekit.config import RunConfig
        from vaekit.data.base import DataSplits, Split
        from vaekit.data.registry import fit_standardizer
        from vaekit.training.loop import fit

        X = _validate(self, X, reset=True)
        if self.likelihood not in LIKELIHOODS:
            raise EstimatorParamError(f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {self.likelihood!r}")
        hidden = tuple(_int("hidden[i]", h) for h in (self.hidden or ()))
        vf = _float("validation_fraction", self.validation_fraction, 0.0, 0.9)
        x = torch.tensor(X, dtype=torch.float32)  # (N, F) a copy (X may be read-only); training is float32
        if self.likelihood == "bernoulli" and (self.standardize or x.min() < 0 or x.max() > 1):
            raise EstimatorParamError("likelihood='bernoulli' needs values in [0, 1] and standardize=False")
        self.scaler_ = fit_standardizer(x) if self.standardize else None
        x = self.scaler_.transform(x) if self.scaler_ is not None else x

        seed = _int("seed", self.seed, 0)
        perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
        n_val = round(len(x) * vf)
        if 0 < n_val < len(x):
            train, val = Split(x[perm[n_val:]]), Split(x[perm[:n_val]])
        else:  # too few rows to hold some out: the best epoch is chosen on the training rows
            train = val = Split(x)
        data = DataSplits("array", "tabular", (x.shape[1],), train, val, Split(x[:0]), scaler=self.scaler_)
        raw = {
            "data": {"source": "array", "validation_fraction": vf, "seed": seed},
            "model": {
                "arch": "mlp",
                "latent_dim": _int("latent_dim", self.latent_dim),
                "hidden": list(hidden),
                "activation": self.activation,
                "likelihood": self.likelihood,
            },
            "train": {
                "epochs": _int("epochs", self.epochs),
                "batch_size": _int("batch_size", self.batch_size),
                "lr": _float("lr", self.lr, 0.0, low_open=True),
                "beta": _float("beta", self.beta, 0.0),
                "progress": bool(self.verbose),
                "tensorboard": False,
                "threads": None if self.threads is None else _int("threads", self.threads),
                "device": self.device,
            },
            "seed": seed,
        }
        try:  # the strict config check: choices (activation, ...) and types
            cfg = RunConfig.from_dict(raw)
        except ConfigError as e:
            raise EstimatorParamError(f"estimator parameter: {e}") from None
        # fit seeds torch's global generator and may set its thread count: leave both as they were
        threads = torch.get_num_threads()
        try:
            with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory(prefix="vaekit-sklearn-") as tmp:
                run = fit(cfg, Path(tmp) / "run", data=data)
        finally:
            torch.set_num_threads(threads)
        self.config_ = cfg
        # inference in float64: a row's outputs then do not depend on the batch it is in (float32
        # matrix kernels round differently for different batch sizes); the weights are unchanged
        self.model_ = run.model.double().to(self.device).eval()
        self.history_ = run.history

    def _model_input(self, X: Any) -> torch.Tensor:
        X = _validate(self, X, reset=False)
        x = torch.tensor(X, dtype=torch.float64)  # (N, F) a copy; float64, like model_
        return self.scaler_.transform(x) if self.scaler_ is not None else x

    def _elbo(self, x: torch.Tensor) -> np.ndarray:
        return elbo_scores(self.model_, x, _int("elbo_samples", self.elbo_samples), self.seed).double().numpy()

    # pickling: the VAE travels as safetensors bytes and is rebuilt from config_ on load
    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())  # a copy: the base may hand back __dict__ itself
        model = state.pop("model_", None)
        if model is not None:
            from safetensors.torch import save

            state["_model_safetensors"] = save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        blob = state.pop("_model_safetensors", None)
        super().__setstate__(state)
        if blob is not None:
            from safetensors.torch import load

            from vaekit.checkpoint import load_weights
            from vaekit.core import build_model

            model = build_model(self.config_.model, (self.n_features_in_,)).double()
            load_weights(model, load(blob), "the unpickled estimator")
            self.model_ = model.to(self.device).eval()


class VAETransformer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, _VAEEstimator):
    """A VAE as a transformer: ``transform`` gives posterior means (N, latent_dim),
    ``inverse_transform`` decodes latent codes to the mean of p(x|z) in the original units, and
    ``score`` is the mean per-example ELBO (nats, standardised units), so GridSearchCV can compare
    settings without a scorer."""

    def __init__(
        self,
        latent_dim: int = 2,
        hidden: tuple[int, ...] = (64, 32),
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        beta: float = 1.0,
        likelihood: str = "gaussian-learned",
        activation: str = "relu",
        standardize: bool = True,
        validation_fraction: float = 0.1,
        elbo_samples: int = 16,
        seed: int = 0,
        device: str = "cpu",
        threads: int | None = None,
        verbose: bool = False,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.beta = beta
        self.likelihood = likelihood
        self.activation = activation
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.elbo_samples = elbo_samples
        self.seed = seed
        self.device = device
        self.threads = threads
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> VAETransformer:
        self._fit_vae(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        from vaekit.core.inference import posterior_stats

        check_is_fitted(self, "model_")
        return posterior_stats(self.model_, self._model_input(X), _EVAL_BATCH).mean.double().numpy()  # (N, D)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Latent codes (N, latent_dim) -> mean of p(x|z) (N, n_features_in_), in the input's units."""
        from vaekit.core.inference import decode_mean

        check_is_fitted(self, "model_")
        z = check_array(X, dtype=[np.float64, np.float32])
        if z.shape[1] != self.model_.latent_dim:
            raise ValueError(f"X has {z.shape[1]} columns, but the latent space has {self.model_.latent_dim} dimensions")
        x = decode_mean(self.model_, torch.tensor(z, dtype=torch.float64), _EVAL_BATCH)  # (N, F)
        return (self.scaler_.inverse(x) if self.scaler_ is not None else x).double().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        check_is_fitted(self, "model_")
        return float(self._elbo(self._model_input(X)).mean())

    @property
    def _n_features_out(self) -> int:
        return self.model_.latent_dim


class VAEOutlierDetector(OutlierMixin, _VAEEstimator):
    """Outliers as examples the VAE finds unlikely. ``score_samples`` is higher for more normal
    rows: the per-example ELBO (``score_method="elbo"``) or the IWAE estimate of log p(x) with
    ``k`` samples (``score_method="nll"``; the parameter is not called ``score`` because scikit-learn
    reserves that name for a method), in nats of the standardised data. ``offset_`` is the
    ``contamination`` quantile of the training scores, so ``predict`` flags about that fraction of
    the training data as -1 (outlier) and the rest as +1."""

    def __init__(
        self,
        latent_dim: int = 4,
        hidden: tuple[int, ...] = (64, 32),
        epochs: int = 50,
        batch_size: int = 64,
        lr: float = 1e-3,
        beta: float = 1.0,
        likelihood: str = "gaussian-learned",
        activation: str = "relu",
        standardize: bool = True,
        validation_fraction: float = 0.1,
        contamination: float = 0.1,
        score_method: str = "elbo",
        elbo_samples: int = 16,
        k: int = 100,
        seed: int = 0,
        device: str = "cpu",
        threads: int | None = None,
        verbose: bool = False,
    ):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.beta = beta
        self.likelihood = likelihood
        self.activation = activation
        self.standardize = standardize
        self.validation_fraction = validation_fraction
        self.contamination = contamination
        self.score_method = score_method
        self.elbo_samples = elbo_samples
        self.k = k
        self.seed = seed
        self.device = device
        self.threads = threads
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> VAEOutlierDetector:
        c = _float("contamination", self.contamination, 0.0, 0.5, low_open=True)
        if self.score_method not in ("elbo", "nll"):
            raise EstimatorParamError(f"score_method must be 'elbo' or 'nll', got {self.score_method!r}")
        self._fit_vae(X)
        self.offset_ = float(np.quantile(self._scores(self._model_input(X)), c))
        return self

    def score_samples(self, X: Any) -> np.ndarray:
        """(N,) higher = more normal: ELBO or IWAE log-likelihood per example, nats."""
        check_is_fitted(self, "model_")
        return self._scores(self._model_input(X))

    def decision_function(self, X: Any) -> np.ndarray:
        """(N,) score_samples - offset_: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """(N,) +1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def _scores(self, x: torch.Tensor) -> np.ndarray:
        if self.score_method == "elbo":
            return self._elbo(x)
        try:
            from vaekit.evaluation.likelihood import iwae_nll
        except ImportError:
            raise VaekitError(
                "score_method='nll' needs vaekit.evaluation.likelihood.iwae_nll, which this installation lacks; use score_method='elbo'"
            ) from None
        k = _int("k", self.k)
        gen = torch.Generator().manual_seed(self.seed)
        result = iwae_nll(self.model_, x, k, batch_size=_EVAL_BATCH, k_chunk=min(k, 256), generator=gen)
        return -result.per_example.detach().double().cpu().numpy()  # per_example is -log p(x) (N,)
