"""Linear probe: how linearly decodable the labels are from the posterior means.

A scikit-learn ``LogisticRegression`` (lbfgs, multinomial, C = 1, standardised features) is fitted
on E_q[z|x] of the training split and scored on the evaluated split. scikit-learn is an optional
extra: ``pip install 'vaekit[sklearn]'``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vaekit.core.inference import posterior_stats
from vaekit.core.vae import VAE
from vaekit.data import Split
from vaekit.errors import DataError, VaekitError


@dataclass(frozen=True)
class ProbeResult:
    accuracy: float  # on the evaluated split
    train_accuracy: float
    chance: float  # accuracy of always predicting the most frequent training label
    n_train: int
    n_test: int


def _sklearn():
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError:
        raise VaekitError("the probe metric needs scikit-learn: pip install 'vaekit[sklearn]' (or scikit-learn)") from None
    return LogisticRegression, make_pipeline, StandardScaler


@torch.inference_mode()
def linear_probe(
    model: VAE,
    train: Split,
    test: Split,
    *,
    batch_size: int = 1000,
    max_train: int | None = None,
    seed: int = 0,
    conditional: bool = False,
) -> ProbeResult:
    """Accuracy of a logistic regression on posterior means, fitted on ``train`` and scored on
    ``test``. ``max_train`` fits on a seeded random subset of the training split. A ``conditional``
    model is given the labels as its condition (the probe then measures what z adds beside them)."""
    if train.y is None or test.y is None:
        raise DataError(
            "the probe metric needs labels in the training and evaluated splits, and this data has none: "
            "evaluate the probe on a labelled source (e.g. --data mnist), or leave 'probe' out of --metrics"
        )
    LogisticRegression, make_pipeline, StandardScaler = _sklearn()
    x_train, y_train = train.x, train.y
    if max_train is not None and x_train.shape[0] > max_train:
        idx = torch.randperm(x_train.shape[0], generator=torch.Generator().manual_seed(seed))[:max_train]  # (max_train,)
        x_train, y_train = x_train[idx], y_train[idx]
    if torch.unique(y_train).numel() < 2:
        raise DataError("the probe metric needs at least two classes in the training split")
    c_train, c_test = (y_train, test.y) if conditional else (None, None)
    z_train = posterior_stats(model, x_train, batch_size, c_train).mean.double().numpy()  # (N, D)
    z_test = posterior_stats(model, test.x, batch_size, c_test).mean.double().numpy()  # (M, D)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    clf.fit(z_train, y_train.numpy())
    counts = torch.bincount(y_train)
    return ProbeResult(
        accuracy=float(clf.score(z_test, test.y.numpy())),
        train_accuracy=float(clf.score(z_train, y_train.numpy())),
        chance=float(counts.max()) / float(counts.sum()),
        n_train=int(z_train.shape[0]),
        n_test=int(z_test.shape[0]),
    )
