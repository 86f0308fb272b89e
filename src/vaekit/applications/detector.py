"""An anomaly detector: a threshold on a score, fitted on normal data and saved beside the model.

``fit_detector`` takes the scores of normal examples and sets the threshold at their
(1 - contamination) quantile (or at ``quantile``): an input is flagged when its score is above
it. The detector is stored as ``detector.json`` in the run directory (written atomically) with
the score settings, so ``vaekit detect score`` computes scores exactly as the fit did, the data
it was fitted on (source, split, checksum) and a sha256 of the weights it was fitted for, so a
retrained model is not silently scored against a stale threshold.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vaekit.applications.anomaly import ScoreSettings
from vaekit.checkpoint import MODEL, RunDir, atomic_write_json
from vaekit.errors import ConfigError, RunDirError

DETECTOR = "detector.json"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Detector:
    settings: ScoreSettings
    threshold: float  # flag an input when its score is above this
    contamination: float | None  # expected anomalous fraction of the fitting data, or
    quantile: float | None  # the quantile of the fitting scores used as threshold
    n_fit: int
    data: dict[str, Any] = field(default_factory=dict)  # source, split, checksum, classes
    stats: dict[str, float] = field(default_factory=dict)  # of the fitting scores
    model_sha256: str = ""

    def flag(self, scores: torch.Tensor) -> torch.Tensor:
        """(N,) scores -> (N,) bool, True = anomalous."""
        return scores > self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "score": self.settings.to_dict(),
            "threshold": self.threshold,
            "contamination": self.contamination,
            "quantile": self.quantile,
            "n_fit": self.n_fit,
            "data": self.data,
            "stats": self.stats,
            "model_sha256": self.model_sha256,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Detector:
        return cls(
            settings=ScoreSettings.from_dict(d["score"]),
            threshold=float(d["threshold"]),
            contamination=d.get("contamination"),
            quantile=d.get("quantile"),
            n_fit=int(d["n_fit"]),
            data=dict(d.get("data", {})),
            stats=dict(d.get("stats", {})),
            model_sha256=str(d.get("model_sha256", "")),
        )


def threshold_quantile(contamination: float | None, quantile: float | None) -> float:
    """The quantile of the normal scores that becomes the threshold; checks the inputs."""
    if contamination is not None and quantile is not None:
        raise ConfigError("give either a contamination rate or a quantile, not both")
    if quantile is not None:
        if not 0.0 < quantile < 1.0:
            raise ConfigError(f"--quantile must be between 0 and 1 (exclusive), got {quantile}")
        return float(quantile)
    c = 0.01 if contamination is None else contamination
    if not 0.0 < c <= 0.5:
        raise ConfigError(
            f"--contamination must be in (0, 0.5], got {c}: it is the expected fraction of anomalies "
            "in the fitting data, e.g. 0.01"
        )
    return 1.0 - float(c)


def fit_detector(
    scores: torch.Tensor,
    settings: ScoreSettings,
    *,
    contamination: float | None = None,
    quantile: float | None = None,
    data: dict[str, Any] | None = None,
    model_sha256: str = "",
) -> Detector:
    """Threshold at the (1 - contamination) quantile (default contamination 0.01) of ``scores`` (N,)."""
    q = threshold_quantile(contamination, quantile)
    a = scores.detach().double().cpu().numpy()
    if a.size == 0:
        raise ConfigError("no examples to fit the detector on; pick a split or data source that has some")
    if not np.isfinite(a).all():
        raise ConfigError(f"{int((~np.isfinite(a)).sum())} fitting scores are not finite; check the data and the model")
    stats = {
        "mean": float(a.mean()),
        "std": float(a.std()),
        "min": float(a.min()),
        "median": float(np.median(a)),
        "q90": float(np.quantile(a, 0.9)),
        "q99": float(np.quantile(a, 0.99)),
        "max": float(a.max()),
    }
    return Detector(
        settings=settings,
        threshold=float(np.quantile(a, q)),
        contamination=None if quantile is not None else (0.01 if contamination is None else float(contamination)),
        quantile=quantile,
        n_fit=int(a.size),
        data=dict(data or {}),
        stats=stats,
        model_sha256=model_sha256,
    )


def weights_sha256(run: RunDir) -> str:
    h = hashlib.sha256()
    with open(run.path / MODEL, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_detector(run: RunDir, detector: Detector, path: Path | None = None) -> Path:
    path = Path(path) if path is not None else run.path / DETECTOR
    atomic_write_json(path, detector.to_dict())
    return path


def load_detector(run: RunDir, path: Path | None = None, check_weights: bool = True) -> Detector:
    """The detector of ``run`` (or at ``path``); an error that says how to make one if there is none."""
    path = Path(path) if path is not None else run.path / DETECTOR
    if not path.is_file():
        raise RunDirError(
            f"no fitted anomaly detector at {path}; fit one on normal data first: "
            f"vaekit detect fit {run.path} --data SOURCE --split validation --contamination 0.01"
        )
    try:
        detector = Detector.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError, ConfigError) as e:
        raise RunDirError(f"{path} is damaged ({e}); fit it again with vaekit detect fit {run.path}") from None
    if check_weights and detector.model_sha256 and detector.model_sha256 != weights_sha256(run):
        raise RunDirError(
            f"{path} was fitted for other weights than {run.path / MODEL} (the model changed since); "
            f"fit it again: vaekit detect fit {run.path}"
        )
    return detector
