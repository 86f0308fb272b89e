"""Explore: the 2-D map of the test split's latent means, one example, and interpolations.

The map comes from :mod:`vaekit.web.cache`. Serving it also starts loading the run's data in the
background, so the first interpolation (which encodes the real examples) does not wait for it.
"""

from __future__ import annotations

import threading
from typing import Any, Literal

import numpy as np
import torch
from fastapi import APIRouter, Query, Request, Response
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from vaekit.errors import VaekitError
from vaekit.web.cache import ExploreMap, explore_map
from vaekit.web.catalog import LoadedRun, RunCatalog
from vaekit.web.encode import png_bytes
from vaekit.web.errors import RequestError
from vaekit.web.routes.common import Body, catalog, parse, settings, shown

router = APIRouter()
SLIDERS = 8  # the most informative latent dimensions get a slider


@router.get("/api/explore")
async def explore(request: Request, run: str) -> Response:
    cat, limit = catalog(request), settings(request).max_points
    body = await run_in_threadpool(_explore, cat, run, limit)
    return Response(body, media_type="application/json")


def _explore(cat: RunCatalog, run: str, limit: int) -> bytes:
    import json

    loaded = cat.get(run)
    m = explore_map(loaded, limit)
    if not loaded.data_loaded:  # interpolation encodes the real examples: load them meanwhile
        threading.Thread(target=_warm, args=(loaded,), daemon=True).start()
    loc, scale = loaded.prior_scale()
    order = np.argsort(-m.dim_scores, kind="stable")[:SLIDERS]
    class_names = list(loaded.run.info.class_names)
    out = {
        "n": int(m.points.shape[0]),
        "split": m.split,
        "method": m.method,
        "axis_names": list(m.axis_names),
        # 4 significant digits are plenty for a plot and keep 10,000 points small
        "x": np.round(m.points[:, 0].astype(np.float64), 4).tolist(),
        "y": np.round(m.points[:, 1].astype(np.float64), 4).tolist(),
        "labels": None if m.labels is None else m.labels.tolist(),
        "class_names": class_names,
        "latent_dim": int(m.z.shape[1]),
        "score_kind": m.score_kind,
        "dims": [{"dim": int(d), "score": float(m.dim_scores[d])} for d in order],
        "prior_loc": loc.tolist(),
        "prior_scale": scale.tolist(),
    }
    return json.dumps(out, separators=(",", ":")).encode()


def _warm(loaded: LoadedRun) -> None:
    try:
        loaded.data()
    except VaekitError:  # the interpolation request reports it
        pass


def _point(m: ExploreMap, index: int) -> int:
    if not 0 <= index < m.points.shape[0]:
        raise RequestError(f"example {index} is not on the map: use 0-{m.points.shape[0] - 1}")
    return index


@router.get("/api/example.png")
async def example_png(request: Request, run: str, index: int) -> Response:
    cat, limit = catalog(request), settings(request).max_points
    png = await run_in_threadpool(_example_png, cat, run, index, limit)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=600"})


def _example_png(cat: RunCatalog, run: str, index: int, limit: int) -> bytes:
    loaded = cat.get(run)
    if not loaded.image:
        raise RequestError(f"run {run!r} models tables: ask /api/point for the row")
    m = explore_map(loaded, limit)
    return png_bytes(m.examples[_point(m, index)].astype(np.float32) / 255.0)


@router.get("/api/point")
async def point(request: Request, run: str, index: int = Query(ge=0)) -> dict[str, Any]:
    cat, limit = catalog(request), settings(request).max_points
    return await run_in_threadpool(_point_info, cat, run, index, limit)


def _point_info(cat: RunCatalog, run: str, index: int, limit: int) -> dict[str, Any]:
    """Example ``index`` of the map: its latent mean z (D,), label and (for tables) its row."""
    loaded = cat.get(run)
    m = explore_map(loaded, limit)
    i = _point(m, index)
    out: dict[str, Any] = {"index": i, "z": m.z[i].astype(np.float64).tolist()}
    out["label"] = None if m.labels is None else int(m.labels[i])
    if not loaded.image:
        out.update(shown(loaded, torch.from_numpy(m.examples[i : i + 1])))
    return out


class InterpolateBody(Body):
    a: int = Field(ge=0)
    b: int = Field(ge=0)
    steps: int = Field(8, ge=2, le=32)
    mode: Literal["lerp", "slerp"] = "lerp"


@router.post("/api/interpolate")
async def interpolate(request: Request) -> dict[str, Any]:
    body = await parse(request, InterpolateBody)
    cat, limit = catalog(request), settings(request).max_points
    return await run_in_threadpool(_interpolate, cat, body, limit)


def _interpolate(cat: RunCatalog, body: InterpolateBody, limit: int) -> dict[str, Any]:
    from vaekit.applications.interpolation import interpolate as latent_interpolation
    from vaekit.runs import condition_for

    loaded = cat.get(body.run)
    m = explore_map(loaded, limit)
    a, b = _point(m, body.a), _point(m, body.b)
    data = loaded.data()
    part = data.split(m.split)
    y = condition_for(loaded.model, part.y, f"the {m.split} split of {data.name!r}")
    c0, c1 = (None, None) if y is None else (y[a : a + 1], y[b : b + 1])
    path = latent_interpolation(
        loaded.model, part.x[a : a + 1], part.x[b : b + 1], body.steps, body.mode, condition0=c0, condition1=c1
    )
    return {"a": a, "b": b, "mode": body.mode, **shown(loaded, path.x[0])}  # (steps, *shape)
