"""Hostile use of the scikit-learn estimators: each case raises the ValueError scikit-learn expects
(never a raw SafetensorError or RuntimeError) and leaves no temporary folder behind."""

from __future__ import annotations

import pickle
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save

from vaekit.errors import VaekitError
from vaekit.sklearn import VAEOutlierDetector, VAETransformer

X = np.random.default_rng(0).normal(size=(60, 3))
SMALL = dict(hidden=(8,), epochs=1, threads=1)


@pytest.fixture(scope="module")
def fitted() -> VAETransformer:
    return VAETransformer(**SMALL).fit(X)


def _pickle_with_state(state: dict) -> bytes:
    class Carrier:  # pickles as a VAETransformer with the given (tampered) state
        def __reduce__(self):
            return (VAETransformer.__new__, (VAETransformer,), state)

    return pickle.dumps(Carrier())


CASES = [
    ("a-billion-wide-layer", lambda f: VAETransformer(**{**SMALL, "hidden": (10**9,)}).fit(X), "parameters"),
    ("a-billion-latent-dimensions", lambda f: VAEOutlierDetector(**{**SMALL, "latent_dim": 10**9}).fit(X), "parameters"),
    ("values-beyond-float32", lambda f: VAETransformer(**SMALL).fit(np.full((40, 3), 1e39)), "float32"),
    ("device-without-cuda", lambda f: VAETransformer(**SMALL, device="cuda").fit(X), "cuda"),
    ("device-unknown", lambda f: VAETransformer(**SMALL, device="abacus").fit(X), "not a device"),
    ("lr-nan", lambda f: VAETransformer(**{**SMALL, "lr": float("nan")}).fit(X), "lr"),
    ("pickle-with-garbage-weights", lambda f: pickle.loads(_pickle_with_state({**f.__getstate__(), "_model_safetensors": b"\0junk" * 9})),
     "damaged"),
    ("pickle-with-weights-of-another-model",
     lambda f: pickle.loads(_pickle_with_state({**f.__getstate__(), "_model_safetensors": save({"w": torch.zeros(2)})})),
     "do not match"),
]  # fmt: skip


@pytest.mark.parametrize("name, call, expect", CASES, ids=[c[0] for c in CASES])
def test_hostile_estimator_use(name, call, expect, fitted, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # apart from other processes' temporary folders
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("vaekit-sklearn-*"))
    with pytest.raises(ValueError) as e:
        call(fitted)
    assert isinstance(e.value, VaekitError)  # one clear vaekit message, and the ValueError scikit-learn expects
    assert "\n" not in str(e.value) and expect in str(e.value).lower(), str(e.value)
    assert set(tmp.glob("vaekit-sklearn-*")) == before  # no temporary run left behind
