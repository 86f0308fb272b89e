"""The evaluation report: one frozen dataclass, its JSON form (``eval.json``) and its printed table.

``eval.json`` holds a flat ``summary`` (metric name -> number, what ``vaekit compare`` ranks) and
``details`` (each metric group with the settings it was computed with: k, seed, batch sizes,
extractor id, ...), plus the split, dataset source and checksum, and how the data was binarised.
Evaluating the same run again on the same data and split merges new groups into the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vaekit.checkpoint import atomic_write_json
from vaekit.errors import RunDirError

FORMAT_VERSION = 1
EVAL_FILE = "eval.json"

# how each summary number ranks runs; compare --sort uses it
Direction = Literal["lower", "higher"]
DIRECTIONS: dict[str, Direction] = {
    "nll": "lower",
    "nll_stderr": "lower",
    "nll_bpd": "lower",
    "elbo": "higher",
    "neg_elbo_bpd": "lower",
    "recon_nll": "lower",
    "recon_nll_bpd": "lower",
    "kl": "lower",
    "kl_bpd": "lower",
    "active_units": "higher",
    "mi": "higher",
    "mse": "lower",
    "psnr": "higher",
    "ssim": "higher",
    "fd": "lower",
    "precision": "higher",
    "recall": "higher",
    "probe_accuracy": "higher",
    "recall@20": "higher",  # ratings runs (evaluation/ranking.py)
    "recall@50": "higher",
    "ndcg@100": "higher",
}

# how the short table prints them: (label, format)
_FORMATS: dict[str, str] = {
    "active_units": "{:.0f}",
    "psnr": "{:.2f}",
    "ssim": "{:.4f}",
    "mse": "{:.5f}",
    "precision": "{:.3f}",
    "recall": "{:.3f}",
    "probe_accuracy": "{:.4f}",
}


@dataclass(frozen=True)
class DataInfo:
    """Which examples were scored: ties every number to exact data."""

    source: str
    checksum: str  # DataSplits.checksum of the loaded source
    shape: tuple[int, ...]
    binarization: Mapping[str, Any] = field(default_factory=dict)  # {"kind": "fixed-stochastic", "seed": 7} or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "checksum": self.checksum,
            "shape": list(self.shape),
            "binarization": dict(self.binarization),
        }


@dataclass(frozen=True)
class EvalReport:
    """What ``evaluate`` returns. ``summary`` holds one number per metric name (see DIRECTIONS);
    ``details`` holds each metric group's full result with its settings; ``timings`` seconds."""

    split: str
    n: int
    seed: int
    data: DataInfo
    metrics: tuple[str, ...]
    summary: Mapping[str, float]
    details: Mapping[str, Mapping[str, Any]]
    timings: Mapping[str, float]
    run: Mapping[str, Any] = field(default_factory=dict)  # run dir, epochs, training seconds

    def to_dict(self) -> dict[str, Any]:
        from vaekit import __version__

        return _jsonable(
            {
                "format": FORMAT_VERSION,
                "vaekit_version": __version__,
                "split": self.split,
                "n": self.n,
                "seed": self.seed,
                "data": self.data.to_dict(),
                "metrics": list(self.metrics),
                "summary": dict(self.summary),
                "details": {k: dict(v) for k, v in self.details.items()},
                "timings": dict(self.timings),
                "run": dict(self.run),
            }
        )


def _jsonable(obj: Any) -> Any:
    """Plain JSON types; NaN/inf become null (JSON has no such numbers)."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):  # tensors and numpy arrays/scalars
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def same_evaluation(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Were two eval.json dicts computed on the same examples (split, data, binarisation, seed)?"""
    keys = ("split", "n", "seed")
    return all(a.get(k) == b.get(k) for k in keys) and a.get("data") == b.get("data")


def merge(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """New results over old ones when both scored the same examples; else the new file alone."""
    if not old or old.get("format") != FORMAT_VERSION or not same_evaluation(old, new):
        return dict(new)
    out = dict(new)
    for key in ("summary", "details", "timings"):
        out[key] = {**old.get(key, {}), **new.get(key, {})}
    out["metrics"] = sorted(set(old.get("metrics", [])) | set(new.get("metrics", [])))
    return out


def write_eval_json(path: Path, report: EvalReport, merge_existing: bool = True) -> dict[str, Any]:
    """Write (or merge into) ``path`` atomically; returns what was written."""
    path = Path(path)
    new = report.to_dict()
    old = None
    if merge_existing and path.is_file():
        try:
            old = json.loads(path.read_text())
        except (ValueError, OSError):
            old = None  # a damaged file is replaced, not merged
    written = merge(old, new)
    atomic_write_json(path, written)
    return written


def read_eval_json(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise RunDirError(f"{path} does not exist: run 'vaekit evaluate {path.parent}' first")
    try:
        raw = json.loads(path.read_text())
    except ValueError as e:
        raise RunDirError(f"{path} is not valid JSON ({e}); run 'vaekit evaluate {path.parent}' again") from None
    if not isinstance(raw, dict) or "summary" not in raw:
        raise RunDirError(f"{path} is not an eval.json written by vaekit evaluate; run 'vaekit evaluate {path.parent}' again")
    return raw


def format_value(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return _FORMATS.get(name, "{:.4f}" if name.endswith("_bpd") else "{:.3f}").format(value)


def format_table(report: Mapping[str, Any]) -> str:
    """The short table ``vaekit evaluate`` prints: one line per metric with its key settings."""
    s = report["summary"]
    d = report["details"]
    data = report["data"]
    lines = [f"split {report['split']} ({report['n']} examples) of {data['source']}  checksum {data['checksum'][:12]}"]
    if data.get("binarization"):
        b = data["binarization"]
        lines[0] += f"  binarisation: {b.get('kind')}" + (f" (seed {b['seed']})" if "seed" in b else "")
    rows: list[tuple[str, str, str]] = []
    if "nll" in s:
        nll = d["nll"]
        rows.append(("nll", f"{s['nll']:.3f} ± {s['nll_stderr']:.3f} nats", f"{s['nll_bpd']:.4f} bits/dim, k={nll['k']}"))
    if "elbo" in s:
        rows.append(("elbo", f"{s['elbo']:.3f} nats", f"{s['neg_elbo_bpd']:.4f} bits/dim (negated)"))
        rows.append(("recon_nll", f"{s['recon_nll']:.3f} nats", f"{s['recon_nll_bpd']:.4f} bits/dim"))
        rows.append(("kl", f"{s['kl']:.3f} nats", f"{s['kl_bpd']:.4f} bits/dim"))
    if "active_units" in s:
        p = d["active-units"]
        rows.append(("active_units", f"{s['active_units']:.0f} / {p['latent_dim']}", f"Cov_x(E_q[z]) > {p['threshold']}"))
    if "mi" in s:
        rows.append(("mi", f"{s['mi']:.3f} nats", f"I(x;z), at most log N = {d['mi']['max']:.2f}"))
    for name in ("mse", "psnr", "ssim"):
        if name in s:
            rows.append((name, format_value(name, s[name]), "reconstruction at E_q[z]"))
    if "fd" in s:
        f = d["fd"]
        rows.append(("fd", f"{s['fd']:.3f}", f"extractor {f['extractor_id']}, {f['n_generated']} samples ({f['sample_mode']})"))
        rows.append(("precision", format_value("precision", s["precision"]), f"k={f['nn_k']} manifolds"))
        rows.append(("recall", format_value("recall", s["recall"]), f"k={f['nn_k']} manifolds"))
    if "probe_accuracy" in s:
        p = d["probe"]
        rows.append(
            (
                "probe_accuracy",
                format_value("probe_accuracy", s["probe_accuracy"]),
                f"logistic regression on E_q[z], {p['n_train']} train",
            )
        )
    for name in (k for k in s if k.startswith(("recall@", "ndcg@")) and not k.endswith("_stderr")):  # ratings runs
        rows.append((name, f"{s[name]:.4f} ± {s.get(name + '_stderr') or 0.0:.4f}", "held-out clicks of held-out users"))
    width = max((len(r[0]) for r in rows), default=0)
    vwidth = max((len(r[1]) for r in rows), default=0)
    lines += [f"  {a:<{width}}  {b:>{vwidth}}  {c}" for a, b, c in rows]
    return "\n".join(lines)
