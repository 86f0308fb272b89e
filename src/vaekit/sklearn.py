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
best-ELBO model in memory (no figures are drawn). Pickling an estimator (pickle, joblib) is the
user's own choice, as for any scikit-learn object; the VAE inside is stored as safetensors bytes,
not as pickled modules.

``conditional=True`` trains a conditional VAE on ``fit(X, y)``: the labels ``y`` (any values; their
sorted unique values become ``classes_``) go to the encoder and decoder. Every later call then
needs the rows' labels too: ``transform(X, y)``, ``inverse_transform(Z, y)``, ``score(X, y)``,
``score_samples(X, y)``, ``predict(X, y)``; without them a clear error says so.
"""

from __future__ import annotations

import math
import numbers
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from vaekit.errors import ConfigError, DataError, TrainingInterrupted, VaekitError
from vaekit.registry import LIKELIHOODS

if TYPE_CHECKING:
    from vaekit.core.vae import VAE

try:
    from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, OutlierMixin, TransformerMixin
    from sklearn.utils.validation import check_array, check_is_fitted, column_or_1d
except ImportError as e:  # pragma: no cover - depends on the installation
    raise VaekitError("vaekit.sklearn needs scikit-learn: pip install 'vaekit[sklearn]'") from e

_EVAL_BATCH = 1024


class EstimatorParamError(ConfigError, ValueError):
    """A bad estimator parameter: a vaekit ConfigError that is also the ValueError scikit-learn expects."""


class EstimatorFitError(VaekitError, ValueError):
    """Training refused or failed (a model too big for memory, data training cannot use, a device this
    machine lacks, a damaged pickled state): a vaekit error that is also the ValueError scikit-learn expects."""


class EstimatorLabelError(DataError, ValueError):
    """Labels a conditional estimator needs and did not get (or does not know): a vaekit DataError
    that is also a ValueError."""


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
def elbo_scores(
    model: VAE,
    x: torch.Tensor,
    samples: int,
    seed: int,
    batch_size: int = _EVAL_BATCH,
    condition: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-example ELBO (N,): E_q[log p(x|z)] by ``samples`` draws z = mu + sigma * eps, minus the
    closed-form KL. The eps (samples, D) are the same for every example (common random numbers:
    one stream of vaekit's seeded-draw scheme), so a row's score does not depend on which other rows
    are scored with it. ``condition`` (N,) holds the rows' labels for a conditional model."""
    from vaekit.core.draws import ExampleStreams
    from vaekit.core.elbo import elbo_parts

    device = next(model.parameters()).device
    eps = ExampleStreams(seed, 0, 1).normal(samples, model.latent_dim)[:, 0].to(device, x.dtype)  # (S, D)
    out = []
    for i in range(0, x.shape[0], batch_size):
        xb = x[i : i + batch_size].to(device)  # (B, F)
        cb = None if condition is None else condition[i : i + batch_size].to(device)  # (B,)
        qz = model.encode(xb, cb)
        z = qz.mean + qz.stddev * eps[:, None]  # (S, B, D)
        recon, kl, _ = elbo_parts(model, xb, qz, z, cb)  # (S, B), (B,) closed form
        out.append((-recon.mean(0) - (kl.mean(0) if kl.dim() == 2 else kl)).cpu())
    return torch.cat(out) if out else torch.empty(0)


def _label_column(y: Any, n: int) -> np.ndarray:
    """y as a 1-D array of one label per row of an n-row X."""
    y = column_or_1d(y, warn=True)
    if len(y) != n:
        raise EstimatorLabelError(f"y has {len(y)} labels for {n} rows of X; give one label per row")
    return y


def _splits(x: torch.Tensor, labels: torch.Tensor | None, validation_fraction: float, seed: int, scaler):
    """Rows (and labels) split at random into training and validation rows, as one DataSplits."""
    from vaekit.data.base import DataSplits, Split

    perm = torch.from_numpy(np.random.default_rng(seed).permutation(len(x)))
    n_val = round(len(x) * validation_fraction)

    def rows(i: torch.Tensor | slice) -> Split:
        return Split(x[i], None if labels is None else labels[i])

    if 0 < n_val < len(x):
        train, val = rows(perm[n_val:]), rows(perm[:n_val])
    else:  # too few rows to hold some out: the best epoch is chosen on the training rows
        train = val = rows(slice(None))
    classes = None if labels is None else int(labels.max()) + 1
    return DataSplits("array", "tabular", (x.shape[1],), train, val, rows(slice(0, 0)), scaler=scaler, num_classes=classes)


def _train(cfg, data):
    """``vaekit.training.loop.fit`` in a temporary run directory, deleted afterwards; no figures."""
    from vaekit.training.loop import fit

    # fit seeds torch's global generator and may set its thread count: leave both as they were
    threads = torch.get_num_threads()
    try:
        with torch.random.fork_rng(devices=[]), tempfile.TemporaryDirectory(prefix="vaekit-sklearn-") as tmp:
            return fit(cfg, Path(tmp) / "run", data=data, figures=False)
    except TrainingInterrupted:
        raise KeyboardInterrupt from None
    except ValueError:
        raise
    except VaekitError as e:
        raise EstimatorFitError(str(e)) from None
    finally:
        torch.set_num_threads(threads)


class _VAEEstimator(BaseEstimator):
    """Training, labels, the in-memory model and pickling, shared by both estimators."""

    def _fit_vae(self, X: Any, y: Any = None) -> None:
        """Validate X (and y), fit the scaler and the VAE: ``scaler_``, ``config_``, ``model_``,
        ``history_``, and ``classes_`` for a conditional estimator."""
        X = _validate(self, X, reset=True)
        if self.likelihood not in LIKELIHOODS:
            raise EstimatorParamError(f"likelihood must be one of {', '.join(LIKELIHOODS.names())}, got {self.likelihood!r}")
        if not isinstance(self.conditional, (bool, np.bool_)):
            raise EstimatorParamError(f"conditional must be True or False, got {self.conditional!r}")
        x = torch.tensor(X, dtype=torch.float32)  # (N, F) a copy (X may be read-only); training is float32
        if bool(torch.isinf(x).any()):
            raise EstimatorFitError("X has values beyond the float32 range (+-3.4e38), which training uses; rescale X")
        if self.likelihood == "bernoulli" and (self.standardize or x.min() < 0 or x.max() > 1):
            raise EstimatorParamError("likelihood='bernoulli' needs values in [0, 1] and standardize=False")
        labels = self._fit_labels(y, len(x)) if self.conditional else None  # (N,) class indices
        from vaekit.data.base import fit_standardizer

        self.scaler_ = fit_standardizer(x) if self.standardize else None
        x = self.scaler_.transform(x) if self.scaler_ is not None else x
        cfg = self._run_config(x.shape[1], None if labels is None else len(self.classes_))
        run = _train(cfg, _splits(x, labels, cfg.data.validation_fraction, cfg.seed, self.scaler_))
        self.config_ = cfg
        # inference in float64: a row's outputs then do not depend on the batch it is in (float32
        # matrix kernels round differently for different batch sizes); the weights are unchanged
        self.model_ = run.model.double().to(self.device).eval()
        self.history_ = run.history

    def _run_config(self, n_features: int, classes: int | None):
        """The checked RunConfig of these parameters (``classes``: a conditional model's label count)."""
        from vaekit.config import RunConfig

        hidden = tuple(_int("hidden[i]", h) for h in (self.hidden or ()))
        seed = _int("seed", self.seed, 0)
        model = {
            "arch": "mlp",
            "latent_dim": _int("latent_dim", self.latent_dim),
            "hidden": list(hidden),
            "activation": self.activation,
            "likelihood": self.likelihood,
        }
        if classes is not None:
            model.update(conditional=True, condition_dim=classes)
        raw = {
            "data": {
                "source": "array",
                "validation_fraction": _float("validation_fraction", self.validation_fraction, 0.0, 0.9),
                "seed": seed,
            },
            "model": model,
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
            return RunConfig.from_dict(raw)
        except ConfigError as e:
            raise EstimatorParamError(f"estimator parameter: {e}") from None

    def _fit_labels(self, y: Any, n: int) -> torch.Tensor:
        """A conditional fit's labels -> (N,) indices into ``classes_`` (the sorted unique labels)."""
        if y is None:
            raise EstimatorLabelError(
                f"{type(self).__name__}(conditional=True) trains on labels: call fit(X, y) with one label per row"
            )
        self.classes_, index = np.unique(_label_column(y, n), return_inverse=True)
        return torch.from_numpy(index.astype(np.int64).reshape(-1))

    def _condition(self, y: Any, n: int, method: str) -> torch.Tensor | None:
        """The condition for ``n`` rows: None for an unconditional fit (``y`` is then ignored, as
        scikit-learn passes it everywhere), else the labels ``y`` as indices into ``classes_``."""
        if not self.config_.model.conditional:
            return None
        if y is None:
            raise EstimatorLabelError(
                f"this {type(self).__name__} was fitted with conditional=True, so its model reads each row's label: "
                f"pass them, {method}(X, y)"
            )
        y = _label_column(y, n)
        index = np.clip(np.searchsorted(self.classes_, y), 0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if unknown.any():
            raise EstimatorLabelError(
                f"labels {sorted(set(np.asarray(y)[unknown].tolist()))[:5]} were not seen in fit; use one of {self.classes_.tolist()}"
            )
        return torch.from_numpy(index.astype(np.int64))

    def _model_input(self, X: Any) -> torch.Tensor:
        X = _validate(self, X, reset=False)
        x = torch.tensor(X, dtype=torch.float64)  # (N, F) a copy; float64, like model_
        return self.scaler_.transform(x) if self.scaler_ is not None else x

    def _elbo(self, x: torch.Tensor, condition: torch.Tensor | None = None) -> np.ndarray:
        samples = _int("elbo_samples", self.elbo_samples)
        return elbo_scores(self.model_, x, samples, self.seed, condition=condition).double().numpy()

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
            from vaekit.core.size import check_model_fits

            try:
                check_model_fits(self.config_.model, (self.n_features_in_,), training=False)
                model = build_model(self.config_.model, (self.n_features_in_,)).double()
                load_weights(model, load(blob), "the unpickled estimator")
            except VaekitError as e:
                raise EstimatorFitError(f"the pickled {type(self).__name__} cannot be restored: {e}") from None
            except Exception as e:  # safetensors' own error type for a damaged blob; torch's for bad tensors
                raise EstimatorFitError(f"the pickled {type(self).__name__} holds damaged weights ({e})") from None
            try:
                self.model_ = model.to(self.device).eval()
            except (RuntimeError, AssertionError) as e:  # torch's "not compiled with CUDA" is an AssertionError
                raise EstimatorFitError(
                    f"the pickled {type(self).__name__} runs on {self.device!r}, which this machine lacks ({e})"
                ) from None


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
        conditional: bool = False,
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
        self.conditional = conditional
        self.seed = seed
        self.device = device
        self.threads = threads
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> VAETransformer:
        """Train on X (N, F); ``y`` (N,) labels are the condition when ``conditional=True``, else ignored."""
        self._fit_vae(X, y)
        return self

    def fit_transform(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).transform(X, y)

    def transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Posterior means (N, latent_dim); a conditional estimator needs the rows' labels ``y``."""
        from vaekit.core.inference import posterior_stats

        check_is_fitted(self, "model_")
        x = self._model_input(X)
        c = self._condition(y, len(x), "transform")
        return posterior_stats(self.model_, x, _EVAL_BATCH, c).mean.double().numpy()  # (N, D)

    def inverse_transform(self, X: Any, y: Any = None) -> np.ndarray:
        """Latent codes (N, latent_dim) -> mean of p(x|z) (N, n_features_in_), in the input's units
        (given labels ``y`` for a conditional estimator)."""
        from vaekit.core.inference import decode_mean

        check_is_fitted(self, "model_")
        z = check_array(X, dtype=[np.float64, np.float32])
        if z.shape[1] != self.model_.latent_dim:
            raise ValueError(f"X has {z.shape[1]} columns, but the latent space has {self.model_.latent_dim} dimensions")
        c = self._condition(y, len(z), "inverse_transform")
        x = decode_mean(self.model_, torch.tensor(z, dtype=torch.float64), _EVAL_BATCH, c)  # (N, F)
        return (self.scaler_.inverse(x) if self.scaler_ is not None else x).double().numpy()

    def score(self, X: Any, y: Any = None) -> float:
        """Mean per-example ELBO; ``y`` is the condition of a conditional estimator, else ignored."""
        check_is_fitted(self, "model_")
        x = self._model_input(X)
        return float(self._elbo(x, self._condition(y, len(x), "score")).mean())

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
        conditional: bool = False,
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
        self.conditional = conditional
        self.seed = seed
        self.device = device
        self.threads = threads
        self.verbose = verbose

    def fit(self, X: Any, y: Any = None) -> VAEOutlierDetector:
        c = _float("contamination", self.contamination, 0.0, 0.5, low_open=True)
        if self.score_method not in ("elbo", "nll"):
            raise EstimatorParamError(f"score_method must be 'elbo' or 'nll', got {self.score_method!r}")
        self._fit_vae(X, y)
        x = self._model_input(X)
        self.offset_ = float(np.quantile(self._scores(x, self._condition(y, len(x), "fit")), c))
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).predict(X, y)

    def score_samples(self, X: Any, y: Any = None) -> np.ndarray:
        """(N,) higher = more normal: ELBO or IWAE log-likelihood per example, nats (given the rows'
        labels ``y`` for a conditional estimator: log p(x | label))."""
        check_is_fitted(self, "model_")
        x = self._model_input(X)
        return self._scores(x, self._condition(y, len(x), "score_samples"))

    def decision_function(self, X: Any, y: Any = None) -> np.ndarray:
        """(N,) score_samples - offset_: negative for outliers."""
        return self.score_samples(X, y) - self.offset_

    def predict(self, X: Any, y: Any = None) -> np.ndarray:
        """(N,) +1 for inliers, -1 for outliers."""
        return np.where(self.decision_function(X, y) < 0, -1, 1)

    def _scores(self, x: torch.Tensor, condition: torch.Tensor | None) -> np.ndarray:
        if self.score_method == "elbo":
            return self._elbo(x, condition)
        try:
            from vaekit.evaluation.likelihood import iwae_nll
        except ImportError:
            raise VaekitError(
                "score_method='nll' needs vaekit.evaluation.likelihood.iwae_nll, which this installation lacks; use score_method='elbo'"
            ) from None
        k = _int("k", self.k)
        gen = torch.Generator().manual_seed(self.seed)
        result = iwae_nll(self.model_, x, k, batch_size=_EVAL_BATCH, k_chunk=min(k, 256), generator=gen, condition=condition)
        return -result.per_example.detach().double().cpu().numpy()  # per_example is -log p(x) (N,)
