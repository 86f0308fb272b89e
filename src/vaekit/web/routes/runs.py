"""Runs: the table of run directories under the root, and one run's details and loss curves."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from vaekit.applications.samplers import SAMPLER_FILE
from vaekit.checkpoint import MODEL, RunDir
from vaekit.errors import VaekitError
from vaekit.web.encode import columns_of
from vaekit.web.routes.common import catalog

router = APIRouter()
CURVE_KEYS = ("epoch", "loss", "recon_nll", "kl", "val_elbo", "val_recon_nll", "val_kl")


@router.get("/api/runs")
async def list_runs(request: Request) -> dict[str, Any]:
    cat = catalog(request)
    return await run_in_threadpool(_list, cat)


def _list(cat) -> dict[str, Any]:
    runs, broken = [], []
    for name in cat.names():
        try:
            runs.append(summary(name, cat.run_dir(name)))
        except VaekitError as e:  # one damaged run does not hide the others
            broken.append({"name": name, "error": str(e)})
    return {"root": str(cat.root), "runs": runs, "broken": broken}


@router.get("/api/run")
async def run_details(request: Request, run: str) -> dict[str, Any]:
    cat = catalog(request)
    return await run_in_threadpool(_details, cat, run)


def _details(cat, name: str) -> dict[str, Any]:
    loaded = cat.get(name)
    out = summary(name, loaded.run)
    metrics = loaded.run.metrics()
    out["curves"] = {k: [_num(r.get(k)) for r in metrics] for k in CURVE_KEYS if any(k in r for r in metrics)}
    out["latent_dim"] = int(loaded.model.latent_dim)
    out["classes"] = loaded.classes
    out["class_names"] = list(loaded.run.info.class_names)
    out["has_sampler"] = (loaded.path / SAMPLER_FILE).is_file()  # vaekit fit-sampler has run
    if not loaded.image:
        out["columns"] = columns_of(loaded.run.scaler(), int(loaded.run.info.data_shape[0]))
    try:
        det = loaded.detector()
        out["detector"] = None if det is None else {"score": det.settings.describe(), "threshold": det.threshold}
    except VaekitError as e:  # stale or damaged detector.json: say so, keep the rest
        out["detector"] = {"error": str(e)}
    return out


def summary(name: str, run: RunDir) -> dict[str, Any]:
    """One row of the runs table, from the run's files alone (no model is built)."""
    c = run.config
    state = run.train_state()
    metrics = run.metrics()
    best = state.get("best_val_elbo")
    if best is None:
        vals = [r["val_elbo"] for r in metrics if isinstance(r.get("val_elbo"), (int, float))]
        best = max(vals) if vals else None
    latent = list(c.model.latent_dims) if c.model.latent_dims else c.model.latent_dim
    return {
        "name": name,
        "data": c.data.source,
        "kind": run.info.data_kind,
        "shape": list(run.info.data_shape),
        "model": {
            "arch": c.model.arch,
            "latent": latent,
            "likelihood": c.model.likelihood.kind,
            "prior": c.model.prior.kind,
            "posterior": c.model.posterior.kind,
            "objective": c.train.objective.kind,
            "conditional": c.model.conditional,
        },
        "parameters": _parameters(run),
        "epochs": state.get("epoch", len(metrics)),
        "epochs_planned": c.train.epochs,
        "best_val_elbo": _num(best),
        "eval": _eval_summary(run),
        "has_detector": (run.path / "detector.json").is_file(),
    }


def _parameters(run: RunDir) -> int | None:
    """Weights in model.safetensors, counted from its header (no tensor is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(run.path / MODEL), framework="pt") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception:  # a missing or damaged file: the run table shows a blank
        return None


def _eval_summary(run: RunDir) -> dict[str, float] | None:
    p = run.path / "eval.json"
    if not p.is_file():
        return None
    try:
        s = json.loads(p.read_text()).get("summary", {})
    except (OSError, ValueError, AttributeError):
        return None
    return {k: n for k, v in s.items() if isinstance(v, (int, float)) and (n := _num(v)) is not None}


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
